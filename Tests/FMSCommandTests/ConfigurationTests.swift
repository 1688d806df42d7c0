import Foundation
import Testing

/// Account settings that are missing or wrong: exit 78 naming the setting, never showing a key.
@Suite("fms configuration errors")
struct ConfigurationTests {
    /// Nothing listens there; every case fails before any connection is tried.
    static let url = "http://127.0.0.1:9"

    enum KeySource: Sendable, CustomTestStringConvertible {
        case none
        case variable(String)
        /// A key file holding this text (written 0600).
        case file(String)
        case missingFile
        case flagFile(String)
        case missingFlagFile
        case credential(String)

        var testDescription: String {
            switch self {
            case .none: return "no key"
            case .variable(let key): return "FMS_SECRET_KEY of \(key.utf8.count) bytes"
            case .file(let key): return "key file of \(key.utf8.count) bytes"
            case .missingFile: return "missing FMS_SECRET_KEY_FILE"
            case .flagFile(let key): return "--secret-key-file of \(key.utf8.count) bytes"
            case .missingFlagFile: return "missing --secret-key-file"
            case .credential(let key): return "systemd credential of \(key.utf8.count) bytes"
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var environment: [String: String]
        var arguments: [String] = []
        var key: KeySource
        var mentions: [String]
        var testDescription: String { name }
    }

    static let account = ["FMS_URL": url, "FMS_APP_ID": "APP"]

    static let cases: [Case] = [
        Case(name: "no FMS_URL", environment: ["FMS_APP_ID": "APP"], key: .variable(TestSecrets.key),
             mentions: ["FMS_URL", "--url"]),
        Case(name: "blank FMS_URL", environment: ["FMS_URL": "  ", "FMS_APP_ID": "APP"], key: .variable(TestSecrets.key),
             mentions: ["FMS_URL"]),
        Case(name: "FMS_URL not http", environment: ["FMS_URL": "ftp://127.0.0.1/", "FMS_APP_ID": "APP"],
             key: .variable(TestSecrets.key), mentions: ["FMS_URL", "ftp://127.0.0.1/"]),
        Case(name: "FMS_URL not a URL", environment: ["FMS_URL": "gateway", "FMS_APP_ID": "APP"],
             key: .variable(TestSecrets.key), mentions: ["FMS_URL", "'gateway'"]),
        Case(name: "--url not a URL", environment: account, arguments: ["--url", "127.0.0.1:9"],
             key: .variable(TestSecrets.key), mentions: ["--url", "127.0.0.1:9"]),
        Case(name: "no FMS_APP_ID", environment: ["FMS_URL": url], key: .variable(TestSecrets.key),
             mentions: ["FMS_APP_ID", "--app-id"]),
        Case(name: "blank FMS_APP_ID", environment: ["FMS_URL": url, "FMS_APP_ID": " "], key: .variable(TestSecrets.key),
             mentions: ["FMS_APP_ID"]),
        Case(name: "no secret key", environment: account, key: .none,
             mentions: ["FMS_SECRET_KEY", "FMS_SECRET_KEY_FILE", "--secret-key-file"]),
        Case(name: "key file missing", environment: account, key: .missingFile,
             mentions: ["FMS_SECRET_KEY_FILE", "no-such-key"]),
        Case(name: "--secret-key-file missing", environment: account, key: .missingFlagFile,
             mentions: ["--secret-key-file", "no-such-key"]),
        Case(name: "FMS_SECRET_KEY too short", environment: account, key: .variable(TestSecrets.shortKey),
             mentions: ["FMS_SECRET_KEY", "13"]),
        Case(name: "FMS_SECRET_KEY too long", environment: account, key: .variable(TestSecrets.longKey),
             mentions: ["FMS_SECRET_KEY", "20"]),
        Case(name: "key file too long", environment: account, key: .file(TestSecrets.longKey),
             mentions: ["FMS_SECRET_KEY_FILE", "20"]),
        Case(name: "key file too short, with a line break", environment: account, key: .file(TestSecrets.shortKey + "\n"),
             mentions: ["FMS_SECRET_KEY_FILE", "13"]),
        Case(name: "--secret-key-file too short", environment: account, key: .flagFile(TestSecrets.shortKey),
             mentions: ["--secret-key-file", "13"]),
        Case(name: "systemd credential too long", environment: account, key: .credential(TestSecrets.longKey),
             mentions: ["credential", "20"]),
        Case(name: "bad FMS_MODE", environment: account.merging(["FMS_MODE": "plain"]) { $1 },
             key: .variable(TestSecrets.key), mentions: ["FMS_MODE", "'plain'"]),
    ]

    /// The gateway commands, each with arguments that are otherwise fine.
    static let gatewayCommands: [[String]] = [
        ["template", "report", "Hello {name}"],
        ["template", "query", "123"],
        ["send", "--mobile", "13800000000", "--template", "123"],
        ["batch", "--template", "123", "-"],
        ["reports"],
        ["balance"],
    ]

    static func environment(for key: KeySource, base: [String: String],
                            in directory: TemporaryDirectory) throws -> (env: [String: String], arguments: [String]) {
        var env = base
        switch key {
        case .none:
            return (env, [])
        case .variable(let text):
            env["FMS_SECRET_KEY"] = text
        case .file(let text):
            env["FMS_SECRET_KEY_FILE"] = try directory.write("key", text, private: true)
        case .missingFile:
            env["FMS_SECRET_KEY_FILE"] = directory.path("no-such-key")
        case .flagFile(let text):
            return (env, ["--secret-key-file", try directory.write("key", text, private: true)])
        case .missingFlagFile:
            return (env, ["--secret-key-file", directory.path("no-such-key")])
        case .credential(let text):
            try FileManager.default.createDirectory(at: directory.url.appendingPathComponent("credentials"),
                                                    withIntermediateDirectories: true)
            try directory.write("credentials/fms-secret-key", text, private: true)
            env["CREDENTIALS_DIRECTORY"] = directory.path("credentials")
        }
        return (env, [])
    }

    @Test("exit 78 naming the setting", arguments: cases)
    func configurationError(_ item: Case) throws {
        let directory = try TemporaryDirectory()
        let (env, keyArguments) = try Self.environment(for: item.key, base: item.environment, in: directory)
        for command in [["balance"], ["send", "--mobile", "13800000000", "--template", "123"]] {
            let result = try fms(command + item.arguments + keyArguments, environment: env)
            #expect(result.status == 78, "\(item.name), \(command[0]): \(result)")
            #expect(result.stdout.isEmpty)
            for text in item.mentions {
                #expect(result.stderr.contains(text), "\(item.name): stderr mentions \(text): \(result.stderr)")
            }
            // Never the key itself (the run helper checks every output too).
            for secret in TestSecrets.all {
                #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret))
            }
        }
    }

    @Test("every gateway command needs the account settings", arguments: gatewayCommands)
    func everyCommandChecksSettings(_ command: [String]) throws {
        let noURL = try fms(command, environment: ["FMS_APP_ID": "APP", "FMS_SECRET_KEY": TestSecrets.key],
                            stdin: Data("mobile\n13800000000\n".utf8))
        #expect(noURL.status == 78, "\(noURL)")
        #expect(noURL.stderr.contains("FMS_URL"))
        let noKey = try fms(command, environment: Self.account, stdin: Data("mobile\n13800000000\n".utf8))
        #expect(noKey.status == 78, "\(noKey)")
        #expect(noKey.stderr.contains("FMS_SECRET_KEY"))
        let shortKey = try fms(command, environment: Self.account.merging(["FMS_SECRET_KEY": TestSecrets.shortKey]) { $1 },
                               stdin: Data("mobile\n13800000000\n".utf8))
        #expect(shortKey.status == 78, "\(shortKey)")
        #expect(shortKey.stderr.contains("13"))
    }

    /// The caller's FMS_* variables never reach the tool: the helper starts from an empty environment.
    @Test func helperPassesOnlyPATH() throws {
        let result = try fms(["balance"])
        #expect(result.status == 78)
        #expect(result.stderr.contains("FMS_URL"))
    }

    /// Flags win over the environment: a good --url beats a bad FMS_URL (then no key: 78 about the key).
    @Test func flagsOverrideEnvironment() throws {
        let result = try fms(["balance", "--url", Self.url, "--app-id", "APP"],
                             environment: ["FMS_URL": "nonsense", "FMS_MODE": "secure"])
        #expect(result.status == 78)
        #expect(result.stderr.contains("FMS_SECRET_KEY"), "\(result)")
        #expect(!result.stderr.contains("nonsense"))
        let closed = "http://127.0.0.1:\(try closedPort())"
        let mode = try fms(["balance", "--mode", "normal"], environment: ["FMS_URL": closed, "FMS_APP_ID": "APP", "FMS_MODE": "bogus"])
        #expect(mode.status == 69, "--mode normal beats a bad FMS_MODE and needs no key; nothing listens: \(mode)")
    }
}
