import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `fms sim` running as a subprocess on a system-chosen port, with its own key file.
final class SimulatorProcess: @unchecked Sendable {
    /// `http://127.0.0.1:PORT`, the first line the simulator printed.
    let baseURL: String
    /// The account id.
    let appId = "APP"
    /// Holds the key file and whatever files a test writes.
    let directory: TemporaryDirectory
    /// The 16-byte key file (mode 0600).
    let keyPath: String
    private let process: Process
    private let stdout: PipeBuffer
    private let stderr: PipeBuffer
    private let lock = NSLock()
    private var stopped = false

    /// Starts `fms sim --port 0 --secret-key-file KEY --app-id APP --review-delay 0 --report-delay 0
    /// --no-rate-limits` plus `extra`, and reads the base URL from its first stdout line.
    init(_ extra: [String] = [], reviewDelay: String = "0", reportDelay: String = "0", rateLimits: Bool = false,
         key: KeySource = .file, port: Int = 0) throws {
        directory = try TemporaryDirectory()
        keyPath = try directory.write("secret.key", TestSecrets.key, private: true)
        process = Process()
        process.executableURL = URL(fileURLWithPath: FMSBinary.path)
        var environment = ["PATH": FMSBinary.searchPath]
        var keyArguments: [String] = []
        switch key {
        case .file: keyArguments = ["--secret-key-file", keyPath]
        case .argument: keyArguments = ["--secret-key", TestSecrets.key]
        case .environment: environment["FMS_SECRET_KEY"] = TestSecrets.key
        }
        process.arguments = ["sim", "--port", String(port)] + keyArguments + ["--app-id", appId,
                             "--review-delay", reviewDelay, "--report-delay", reportDelay]
            + (rateLimits ? [] : ["--no-rate-limits"]) + extra
        process.environment = environment
        (stdout, stderr) = try launchCollectingOutput(process)
        let deadline = Date().addingTimeInterval(30)
        while !stdout.text.contains("\n") {
            if stdout.isFinished || Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw TestFailure("fms sim did not print its URL:\n\(stderr.text)")
            }
            usleep(5_000)
        }
        baseURL = String(stdout.text.prefix { $0 != "\n" })
    }

    deinit {
        lock.lock()
        let running = !stopped
        lock.unlock()
        if running {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The account settings of a gateway command talking to this simulator.
    var environment: [String: String] {
        ["FMS_URL": baseURL, "FMS_APP_ID": appId, "FMS_SECRET_KEY_FILE": keyPath]
    }

    /// How the simulator gets the account key.
    enum KeySource: Sendable {
        /// `--secret-key-file` (mode 0600).
        case file
        /// `--secret-key KEY`.
        case argument
        /// `FMS_SECRET_KEY`.
        case environment
    }

    /// Stops the simulator with `signal` (SIGTERM) and checks it exits 0, having printed only its URL and no secret.
    func stop(signal number: Int32 = SIGTERM, sourceLocation: SourceLocation = #_sourceLocation) {
        lock.lock()
        if stopped { lock.unlock(); return }
        stopped = true
        lock.unlock()
        kill(process.processIdentifier, number)
        if !stdout.waitForEnd(timeout: 30) || !stderr.waitForEnd(timeout: 5) {
            Issue.record("fms sim did not stop within 30 s of signal \(number): killed", sourceLocation: sourceLocation)
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        #expect(process.terminationReason == .exit, "fms sim died of a signal", sourceLocation: sourceLocation)
        #expect(process.terminationStatus == 0, "fms sim exit status after signal \(number); stderr:\n\(stderr.text)",
                sourceLocation: sourceLocation)
        #expect(stdout.text == baseURL + "\n", "fms sim prints only its URL on stdout", sourceLocation: sourceLocation)
        expectNoSecrets(stdout.text, in: "the stdout of fms sim", sourceLocation: sourceLocation)
        expectNoSecrets(stderr.text, in: "the stderr of fms sim", sourceLocation: sourceLocation)
    }

    /// What the simulator printed on stderr so far.
    var diagnostics: String { stderr.text }

    // MARK: Control routes

    /// One accepted message, from `GET /__sim/ledger`.
    struct LedgerRecord: Decodable, Sendable {
        var appId: String
        var fmsId: String
        var customFmsId: String?
        var mobile: String
        var templateId: String
        var content: [String: String]
        var state: String
    }

    /// Every message the simulator accepted.
    func ledger() async throws -> [LedgerRecord] {
        try JSONDecoder().decode([LedgerRecord].self, from: try await get("/__sim/ledger"))
    }

    /// The number of gateway requests the simulator has answered (`GET /__sim/stats`).
    func requestCount() async throws -> Int {
        let object = try JSONSerialization.jsonObject(with: try await get("/__sim/stats")) as? [String: Any]
        guard let count = object?["requests"] as? Int else { throw TestFailure("no 'requests' in /__sim/stats") }
        return count
    }

    private func get(_ path: String) async throws -> Data {
        let (data, response) = try await URLSession.shared.data(from: URL(string: baseURL + path)!)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw TestFailure("GET \(path) failed") }
        return data
    }

    // MARK: Running fms against it

    /// Runs a gateway command with this simulator's account settings (plus `environment`).
    @discardableResult
    func fms(_ arguments: [String], environment extra: [String: String] = [:], stdin: Data? = nil,
             sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
        try FMSCommandTests.fms(arguments, environment: environment.merging(extra) { $1 }, stdin: stdin,
                                sourceLocation: sourceLocation)
    }

    /// Registers `text` with `fms template report` and returns the template id.
    func registerTemplate(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try fms(["template", "report", text], sourceLocation: sourceLocation)
        guard result.status == 0, result.lines.count == 1 else {
            throw TestFailure("fms template report failed: \(result)")
        }
        return result.lines[0]
    }
}

/// Runs `body` with a fresh simulator, then stops it (also when `body` throws).
func withSimulator(_ extra: [String] = [], reviewDelay: String = "0", rateLimits: Bool = false,
                   sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: (SimulatorProcess) async throws -> Void) async throws {
    let simulator = try SimulatorProcess(extra, reviewDelay: reviewDelay, rateLimits: rateLimits)
    do {
        try await body(simulator)
    } catch {
        simulator.stop(sourceLocation: sourceLocation)
        throw error
    }
    simulator.stop(sourceLocation: sourceLocation)
}
