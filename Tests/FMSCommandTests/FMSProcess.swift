import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// End-to-end support: runs the BUILT `fms` binary as a subprocess.
//
// The binary comes from $FMS_BIN (set by `make test`), else `<package root>/.build/debug/fms`.
// Every run starts from an empty environment plus PATH, so no FMS_* setting of the caller leaks in,
// and every stdout/stderr is checked for the test secrets (none may ever be printed).

/// Where the `fms` binary is.
enum FMSBinary {
    static let path: String = {
        if let path = ProcessInfo.processInfo.environment["FMS_BIN"], !path.isEmpty { return path }
        // #filePath is <root>/Tests/FMSCommandTests/FMSProcess.swift.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/fms").path
    }()

    /// A new empty folder for one run's outbox, under a per-process root in the temp directory.
    static func freshStateDirectory() -> String {
        let root = NSTemporaryDirectory() + "fms-test-state-\(getpid())"
        let path = root + "/" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// PATH of the test process, the one variable passed on.
    static let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
}

/// The secrets used in this run: random letters, so they cannot turn up in output by accident.
enum TestSecrets {
    static func random(_ count: Int) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        return String((0..<count).map { _ in letters.randomElement()! })
    }

    /// The simulator account's 16-byte key.
    static let key = random(16)
    /// A valid-length key the simulator does not know.
    static let wrongKey = random(16)
    /// Keys of lengths AES does not take.
    static let shortKey = random(13)
    static let longKey = random(20)

    static let all = [key, wrongKey, shortKey, longKey]
}

/// What one run of `fms` did.
struct RunResult: Sendable, CustomStringConvertible {
    var status: Int32
    /// False when the process died of a signal (then `status` is the signal number).
    var exited: Bool
    var stdout: String
    var stderr: String
    var timedOut: Bool

    /// Non-empty stdout lines.
    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    var description: String {
        "exit \(exited ? "" : "signal ")\(status)\(timedOut ? " (timed out)" : "")\n--- stdout:\n\(stdout)--- stderr:\n\(stderr)"
    }
}

/// Bytes collected from a pipe by a reader thread.
final class PipeBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    private let done = DispatchSemaphore(value: 0)

    /// Starts a thread that reads `handle` to its end.
    init(reading handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.lock(); data.append(chunk); lock.unlock()
            }
            lock.lock(); finished = true; lock.unlock()
            done.signal()
        }
        thread.start()
    }

    var snapshot: Data { lock.lock(); defer { lock.unlock() }; return data }
    var text: String { String(decoding: snapshot, as: UTF8.self) }
    var isFinished: Bool { lock.lock(); defer { lock.unlock() }; return finished }

    /// Waits for the end of the pipe; false on timeout.
    func waitForEnd(timeout: Double) -> Bool {
        done.wait(timeout: .now() + timeout) == .success
    }
}

/// Records an issue if any test secret appears in `text`.
func expectNoSecrets(_ text: String, in what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for secret in TestSecrets.all where text.contains(secret) {
        Issue.record("a secret key appears in \(what)", sourceLocation: sourceLocation)
    }
}

/// Runs `fms arguments` with exactly `environment` (plus PATH), optional stdin, and a timeout.
///
/// On timeout the process is killed and an issue recorded. Any test secret in stdout or stderr
/// is recorded as an issue too.
@discardableResult
func fms(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil, timeout: Double = 30,
         sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: FMSBinary.path)
    process.arguments = arguments
    var env = environment
    env["PATH"] = env["PATH"] ?? FMSBinary.searchPath
    // Each run gets its own outbox unless the test shares one on purpose (FMS_STATE_DIR set).
    if env["FMS_STATE_DIR"] == nil { env["FMS_STATE_DIR"] = FMSBinary.freshStateDirectory() }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input: Pipe? = stdin == nil ? nil : Pipe()
    process.standardInput = input ?? FileHandle.nullDevice
    try process.run()
    let stdoutBuffer = PipeBuffer(reading: out.fileHandleForReading)
    let stderrBuffer = PipeBuffer(reading: err.fileHandleForReading)
    if let input, let stdin {
        let writer = input.fileHandleForWriting
        Thread {
            try? writer.write(contentsOf: stdin)
            try? writer.close()
        }.start()
    }
    var timedOut = false
    if !stdoutBuffer.waitForEnd(timeout: timeout) || !stderrBuffer.waitForEnd(timeout: 5) {
        timedOut = true
        kill(process.processIdentifier, SIGKILL)
        let shown = arguments.map { TestSecrets.all.contains($0) ? "<secret>" : $0 }.joined(separator: " ")
        Issue.record("fms \(shown) did not finish within \(timeout) s: killed", sourceLocation: sourceLocation)
        _ = stdoutBuffer.waitForEnd(timeout: 10)
        _ = stderrBuffer.waitForEnd(timeout: 10)
    }
    process.waitUntilExit()
    let result = RunResult(status: process.terminationStatus, exited: process.terminationReason == .exit,
                           stdout: stdoutBuffer.text, stderr: stderrBuffer.text, timedOut: timedOut)
    expectNoSecrets(result.stdout, in: "the stdout of fms \(arguments.first ?? "")", sourceLocation: sourceLocation)
    expectNoSecrets(result.stderr, in: "the stderr of fms \(arguments.first ?? "")", sourceLocation: sourceLocation)
    return result
}

/// Starts `process` with stdin from /dev/null, collecting its stdout and stderr.
func launchCollectingOutput(_ process: Process) throws -> (stdout: PipeBuffer, stderr: PipeBuffer) {
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return (PipeBuffer(reading: out.fileHandleForReading), PipeBuffer(reading: err.fileHandleForReading))
}

/// A temporary directory, removed when released.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("fms-clitests-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `contents` to `name` (mode 0600 when `private`) and returns its path.
    @discardableResult
    func write(_ name: String, _ contents: String, private isPrivate: Bool = false) throws -> String {
        let path = url.appendingPathComponent(name).path
        guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8),
                                             attributes: isPrivate ? [.posixPermissions: 0o600] : nil) else {
            throw TestFailure("cannot write \(path)")
        }
        if isPrivate { try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path) }
        return path
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A port nothing listens on: bound once by the system's choice, then closed.
func closedPort() throws -> Int {
    #if canImport(Glibc)
    let stream = Int32(SOCK_STREAM.rawValue)
    #else
    let stream = SOCK_STREAM
    #endif
    let fd = socket(AF_INET, stream, 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestFailure("bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
