import Foundation
import FMSClient
import FMSProtocol

/// Resolves the gateway account from the environment and command-line flags.
///
/// Flags win over the environment: `--url` over `FMS_URL`, `--app-id` over `FMS_APP_ID`,
/// `--mode` over `FMS_MODE`, `--secret-key-file` over `FMS_SECRET_KEY`, which wins over
/// `FMS_SECRET_KEY_FILE`, which wins over systemd's `$CREDENTIALS_DIRECTORY/fms-secret-key`.
/// Errors name the setting at fault, never the secret.
enum AccountSettings {
    /// The options every command that talks to the gateway accepts.
    static let options: [OptionSpec] = [
        .value("url", "URL", "gateway base URL, http://host:port (default: $FMS_URL)"),
        .value("app-id", "ID", "account id (default: $FMS_APP_ID)"),
        .value("secret-key-file", "FILE", "file holding the secret key (default: $FMS_SECRET_KEY or $FMS_SECRET_KEY_FILE)"),
        .value("mode", "MODE", "interface: secure (encrypted, default) or normal (plain JSON) (default: $FMS_MODE)"),
        .flag("no-gzip", "do not gzip secure request bodies"),
        .value("timeout", "SECONDS", "seconds to wait for each HTTP exchange (default 30)"),
    ]

    /// Builds the client configuration.
    static func resolve(_ arguments: ParsedArguments, environment: [String: String]) throws(CommandError) -> FMSClientConfiguration {
        let urlText = arguments.value("url") ?? environment["FMS_URL"]
        guard let urlText, !urlText.trimmingSpaces().isEmpty else {
            throw CommandError("no gateway URL: set FMS_URL or pass --url (try 'fms sim' for a local simulator)", exitCode: .configuration)
        }
        guard let url = URL(string: urlText.trimmingSpaces()), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", url.host != nil else {
            let source = arguments.value("url") != nil ? "--url" : "FMS_URL"
            throw CommandError("\(source) '\(urlText)' is not an http:// or https:// URL", exitCode: .configuration)
        }
        guard let appId = (arguments.value("app-id") ?? environment["FMS_APP_ID"])?.trimmingSpaces(), !appId.isEmpty else {
            throw CommandError("no account id: set FMS_APP_ID or pass --app-id", exitCode: .configuration)
        }
        let mode = try resolveMode(arguments, environment: environment)
        let key: SecretKey? = mode == .secure ? try resolveSecretKey(arguments, environment: environment) : nil
        var configuration = FMSClientConfiguration(baseURL: url, appId: appId, secretKey: key, mode: mode,
                                                   gzip: !arguments.has("no-gzip"))
        if let timeoutText = arguments.value("timeout") {
            guard let timeout = Double(timeoutText), timeout > 0, timeout.isFinite else {
                throw .usage("--timeout '\(timeoutText)' is not a positive number of seconds")
            }
            configuration.timeout = timeout
        }
        return configuration
    }

    /// The interface mode from `--mode` or `FMS_MODE`.
    static func resolveMode(_ arguments: ParsedArguments, environment: [String: String]) throws(CommandError) -> InterfaceMode {
        if let text = arguments.value("mode") {
            guard let mode = InterfaceMode(rawValue: text.lowercased()) else {
                throw .usage("--mode '\(text)' is neither 'secure' nor 'normal'")
            }
            return mode
        }
        if let text = environment["FMS_MODE"], !text.isEmpty {
            guard let mode = InterfaceMode(rawValue: text.lowercased()) else {
                throw CommandError("FMS_MODE '\(text)' is neither 'secure' nor 'normal'", exitCode: .configuration)
            }
            return mode
        }
        return .secure
    }

    /// The secret key from a file flag, the environment or a systemd credential.
    static func resolveSecretKey(_ arguments: ParsedArguments, environment: [String: String],
                                 flag: String = "secret-key-file",
                                 hint: String = "(the normal interface, --mode normal, needs none)") throws(CommandError) -> SecretKey {
        if let path = arguments.value(flag) { return try readKeyFile(path, source: "--\(flag)") }
        if let text = environment["FMS_SECRET_KEY"], !text.isEmpty {
            do {
                return try SecretKey(text)
            } catch {
                throw CommandError("FMS_SECRET_KEY: \(error)", exitCode: .configuration)
            }
        }
        if let path = environment["FMS_SECRET_KEY_FILE"], !path.isEmpty { return try readKeyFile(path, source: "FMS_SECRET_KEY_FILE") }
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = directory + "/fms-secret-key"
            if FileManager.default.fileExists(atPath: path) { return try readKeyFile(path, source: "the systemd credential") }
        }
        throw CommandError("no secret key: set FMS_SECRET_KEY or FMS_SECRET_KEY_FILE, or pass --secret-key-file " + hint,
                           exitCode: .configuration)
    }

    private static func readKeyFile(_ path: String, source: String) throws(CommandError) -> SecretKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandError("\(source): cannot read '\(path)'", exitCode: .configuration)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CommandError("\(source): '\(path)' is not UTF-8 text", exitCode: .configuration)
        }
        do {
            return try SecretKey(text)
        } catch {
            throw CommandError("\(source) '\(path)': \(error)", exitCode: .configuration)
        }
    }
}
