import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `fms watch` running as a subprocess, with its stderr (the log) collected.
final class WatcherProcess: @unchecked Sendable {
    let process: Process
    private let stdout: PipeBuffer
    private let stderr: PipeBuffer
    /// The outbox folder.
    let stateDirectory: String

    /// Starts `fms watch ARGUMENTS` with `environment` (plus PATH) and a fresh state folder unless given.
    init(_ arguments: [String], environment: [String: String] = [:], stateDirectory: String? = nil) throws {
        self.stateDirectory = stateDirectory ?? FMSBinary.freshStateDirectory()
        process = Process()
        process.executableURL = URL(fileURLWithPath: FMSBinary.path)
        process.arguments = ["watch"] + arguments
        var env = environment
        env["PATH"] = FMSBinary.searchPath
        env["FMS_STATE_DIR"] = self.stateDirectory
        process.environment = env
        (stdout, stderr) = try launchCollectingOutput(process)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The log so far.
    var log: String { stderr.text }

    /// How many log lines contain `text`.
    func count(_ text: String) -> Int { log.components(separatedBy: "\n").filter { $0.contains(text) }.count }

    /// Waits until the log holds `count` lines containing `text`; throws with the log on timeout.
    func waitFor(_ text: String, count: Int = 1, timeout: Double = 20) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while self.count(text) < count {
            if Date() > deadline || (!process.isRunning && stderr.isFinished) {
                throw TestFailure("the watcher's log never had \(count) line(s) with '\(text)':\n\(log)")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// The in-process simulator's base URL, from the log.
    var simulatorURL: String? {
        guard let range = log.range(of: "serving http://127.0.0.1:") else { return nil }
        let rest = log[range.upperBound...]
        let port = rest.prefix { $0.isNumber }
        return "http://127.0.0.1:" + port
    }

    /// The simulator's ledger: mobile and variables of every accepted message.
    func ledger() async throws -> [(mobile: String, content: [String: String])] {
        guard let base = simulatorURL, let url = URL(string: base + "/__sim/ledger") else {
            throw TestFailure("no simulator URL in the log:\n\(log)")
        }
        let (data, _) = try await URLSession.shared.data(from: url)
        guard let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw TestFailure("the ledger is not a list")
        }
        return list.map { entry in
            (entry["mobile"] as? String ?? "", entry["content"] as? [String: String] ?? [:])
        }
    }

    /// The ledger once it holds at least `count` messages (or after 5 s, as it is then).
    func ledger(atLeast count: Int) async throws -> [(mobile: String, content: [String: String])] {
        var ledger = try await self.ledger()
        for _ in 0..<100 where ledger.count < count {
            try await Task.sleep(nanoseconds: 50_000_000)
            ledger = try await self.ledger()
        }
        return ledger
    }

    /// Sends `signal`.
    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to end (killing it after `timeout`); its exit status, or -signal.
    @discardableResult
    func waitForExit(timeout: Double = 30) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw TestFailure("the watcher did not exit within \(timeout) s:\n\(log)")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        _ = stderr.waitForEnd(timeout: 5)
        expectNoSecrets(log, in: "the watcher's log")
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop() async throws -> Int32 {
        signal(SIGTERM)
        return try await waitForExit()
    }
}
