import Foundation
import Synchronization
import Testing
@testable import Outbox
import FMSClient
import FMSProtocol
@testable import FMSSimulator

// Helpers of the outbox tests: scratch directories, a clock tests can move, an in-memory
// gateway behind a transport that injects faults, and small file utilities.

// MARK: Scratch directories

/// Runs `body` with a fresh, empty scratch directory (removed afterwards). The state
/// directory a test uses is normally `base + "/state"`, which the outbox creates itself.
func withScratch<T>(_ body: (String) async throws -> T) async throws -> T {
    let base = FileManager.default.temporaryDirectory.path + "/outbox-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    defer {
        // Restore write permission in case a test took it away, then remove everything.
        _ = chmod(base, 0o700)
        _ = chmod(base + "/state", 0o700)
        try? FileManager.default.removeItem(atPath: base)
    }
    return try await body(base)
}

/// The permission bits of `path` (via stat), or nil when it does not exist.
func permissions(_ path: String) -> mode_t? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return info.st_mode & 0o777
}

/// The size of `path`, or nil when it does not exist.
func fileSize(_ path: String) -> Int? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return Int(info.st_size)
}

func readBytes(_ path: String) -> [UInt8] {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Whether the tests run as root (permission bits do not stop root).
var runningAsRoot: Bool { getuid() == 0 }

// MARK: Opening and dropping outboxes

/// A configuration for tests: short linger and retry delays so retries take milliseconds.
func testConfiguration(_ directory: String, _ tweak: (inout Outbox.Configuration) -> Void = { _ in }) -> Outbox.Configuration {
    var configuration = Outbox.Configuration(directory: directory)
    configuration.linger = 0.005
    configuration.retryBase = 0.01
    configuration.retryMax = 0.08
    tweak(&configuration)
    return configuration
}

/// The error opening an outbox fails with, or nil when it opens.
func openFailure(_ configuration: Outbox.Configuration) -> OutboxError? {
    do {
        _ = try Outbox(configuration: configuration, client: nil)
        return nil
    } catch {
        return error
    }
}

/// Waits until nobody holds the state directory's lock: an outbox just dropped may still be
/// referenced for a moment by a task it started. Returns false if it never frees.
func waitUntilUnlocked(_ directory: String) async -> Bool {
    for _ in 0..<2000 {
        let descriptor = open(directory + "/lock", O_RDWR | O_CLOEXEC)
        if descriptor >= 0 {
            let free = flock(descriptor, LOCK_EX | LOCK_NB) == 0
            close(descriptor)
            if free { return true }
        }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return false
}

/// Opens an outbox on a directory another (dropped) outbox used a moment ago.
func reopen(_ configuration: Outbox.Configuration, client: FMSClient? = nil,
            clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) async throws -> Outbox {
    #expect(await waitUntilUnlocked(configuration.directory), "the dropped outbox still holds the lock")
    return try Outbox(configuration: configuration, client: client, clock: clock)
}

/// Polls `condition` until it holds; false if it never does within `limit` seconds (a guard
/// against hangs, not a speed requirement).
func eventually(limit: Double = 60, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(limit)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return try await condition()
}

// MARK: Clock

/// The real time plus an offset tests can advance (the outbox's notion of "now").
final class TestClock: Sendable {
    private let offset = Mutex(0.0)

    var now: Double { Date().timeIntervalSince1970 + offset.withLock { $0 } }

    func advance(_ seconds: Double) { offset.withLock { $0 += seconds } }

    var function: @Sendable () -> Double { { [self] in self.now } }
}

// MARK: Messages

/// A valid mainland mobile, distinct per index.
func mobile(_ index: Int) -> String {
    let digits = String(index)
    return "138" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

/// `count` messages alternating over `templates`, with ids `prefix-i`.
func makeMessages(_ count: Int, templates: [String], prefix: String, rule: String? = "test.lua",
                  firstIndex: Int = 0) -> [NewMessage] {
    (firstIndex..<(firstIndex + count)).map { index in
        NewMessage(customId: "\(prefix)-\(index)", template: templates[index % templates.count], mobile: mobile(index),
                   variables: ["code": String(index), "order": "单号\(index)", "carrier": "顺丰"],
                   rule: rule, key: rule == nil ? nil : "key-\(index % 7)")
    }
}

// MARK: Random

/// The simulator's seeded generator (SplitMix64), so fault patterns repeat.
typealias SeededRandom = SplitMix64

extension SplitMix64 {
    /// A uniform value in 0..<1.
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

// MARK: Transport

/// Hands requests to an in-memory `Gateway` (the whole protocol, no sockets) and, for
/// `sendBatchFMS`, can inject faults: HTTP 503 without processing, an answer lost after the
/// gateway processed the request (a `TransportError`), latency, a gateway that is down, or a
/// vendor-style refusal (`ERROR_MOBILE_ERROR`) of any batch holding a marked mobile.
/// Every batch request is recorded with its customFmsIds and what happened to it.
final class TestTransport: HTTPTransport {
    enum Outcome: Sendable, Equatable {
        /// Processed and answered.
        case answered
        /// Answered 503 before processing.
        case http503
        /// Processed by the gateway, then the answer was lost.
        case lost
        /// Refused with a result code (vendor behaviour), not processed.
        case refused(String)
        /// The gateway is down (503, not processed).
        case down
    }

    struct Faults: Sendable {
        var http503Share = 0.0
        var lostShare = 0.0
        var maxLatency = 0.0
        /// Seconds every batch request takes at least.
        var fixedLatency = 0.0
    }

    /// One `sendBatchFMS` request as it went by.
    struct Send: Sendable {
        var templateId: String
        var customIds: [String]
        var mobiles: [String]
        var outcome: Outcome
        /// The gateway's result code when it processed the request.
        var result: String?
    }

    private struct State {
        var random: SeededRandom
        var faults: Faults
        var refusedMobiles: Set<String> = []
        var down = false
        var sends: [Send] = []
        var inFlight = 0
        var maxInFlight = 0
    }

    let gateway: Gateway
    let key: SecretKey
    private let state: Mutex<State>

    init(gateway: Gateway, key: SecretKey, faults: Faults = Faults(), seed: UInt64 = 1) {
        self.gateway = gateway
        self.key = key
        state = Mutex(State(random: SeededRandom(seed: seed), faults: faults))
    }

    var sends: [Send] { state.withLock { $0.sends } }
    /// Batch requests being handled right now, and the most there ever were at once.
    var inFlight: Int { state.withLock { $0.inFlight } }
    var maxInFlight: Int { state.withLock { $0.maxInFlight } }
    func setFaults(_ faults: Faults) { state.withLock { $0.faults = faults } }
    func setDown(_ down: Bool) { state.withLock { $0.down = down } }
    func setRefusedMobiles(_ mobiles: Set<String>) { state.withLock { $0.refusedMobiles = mobiles } }

    func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        guard let (mode, endpoint) = Endpoint.parse(path: request.url.path) else {
            return TransportResponse(status: 404, headers: [], body: [])
        }
        let header: (String) -> String? = { name in
            request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
        guard endpoint == .sendBatch else {
            let answer = gateway.handle(mode: mode, endpoint: endpoint, header: header, body: request.body, clientIP: "127.0.0.1")
            return TransportResponse(status: 200, headers: [(ProtocolHeader.result, answer.result.name)], body: answer.body)
        }

        // Look inside the batch: which template and messages it carries.
        let gzip = header(ProtocolHeader.gzip)?.lowercased() == "on"
        let json: JSONValue? = mode == .secure
            ? try? SecureEnvelope.openJSON(request.body, key: key, gzip: gzip)
            : try? JSONParser.parse(request.body, options: .tolerant)
        let batch = json.flatMap { try? BatchSendRequest(json: $0) } ?? BatchSendRequest(templateId: "?", entries: [])

        var latency = 0.0
        let outcome: Outcome = state.withLock { state in
            state.inFlight += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight)
            latency = state.faults.fixedLatency
            if state.down { return .down }
            if batch.entries.contains(where: { state.refusedMobiles.contains($0.mobile) }) {
                return .refused(ResultCode.mobileError.name)
            }
            latency += state.faults.maxLatency * state.random.unit()
            if state.random.unit() < state.faults.http503Share { return .http503 }
            if state.random.unit() < state.faults.lostShare { return .lost }
            return .answered
        }
        if latency > 0 { try? await Task.sleep(nanoseconds: UInt64(latency * 1_000_000_000)) }

        var send = Send(templateId: batch.templateId, customIds: batch.entries.map { $0.customFmsId ?? "" },
                        mobiles: batch.entries.map(\.mobile), outcome: outcome, result: nil)
        defer {
            state.withLock { state in
                state.sends.append(send)
                state.inFlight -= 1
            }
        }
        switch outcome {
        case .down, .http503:
            return TransportResponse(status: 503, headers: [], body: [])
        case .refused(let code):
            return TransportResponse(status: 200, headers: [(ProtocolHeader.result, code)], body: [])
        case .answered, .lost:
            let answer = gateway.handle(mode: mode, endpoint: endpoint, header: header, body: request.body, clientIP: "127.0.0.1")
            send.result = answer.result.name
            if outcome == .lost {
                throw TransportError(message: "connection reset before the answer arrived (injected)", timedOut: false)
            }
            return TransportResponse(status: 200, headers: [(ProtocolHeader.result, answer.result.name)], body: answer.body)
        }
    }
}

// MARK: Gateway harness

/// An in-memory gateway with one account and two registered templates, a fault-injecting
/// transport in front of it, and a client over that transport.
struct Harness: Sendable {
    static let appId = "EUCP-OUTBOX-TEST-01"
    static let key: SecretKey = {
        do { return try SecretKey("0123456789abcdef") } catch { fatalError("fixture key: \(error)") }
    }()
    /// A template id the gateway does not know.
    static let unknownTemplate = "100000000000000"

    let gateway: Gateway
    let transport: TestTransport
    let client: FMSClient
    /// Ids of the two registered templates ({code}; {order} and {carrier}).
    let templates: [String]

    static func make(faults: TestTransport.Faults = .init(), seed: UInt64 = 1,
                     failingMobiles: [String: ReportState] = [:]) async throws -> Harness {
        var configuration = GatewayConfiguration(
            accounts: [SimulatorAccount(appId: appId, secretKey: key, balance: 10_000_000)],
            reviewDelay: 0, reportDelay: 0, failingMobiles: failingMobiles, rateLimits: [:])
        configuration.seed = 42
        let gateway = Gateway(configuration: configuration)
        let transport = TestTransport(gateway: gateway, key: key, faults: faults, seed: seed)
        let clientConfiguration = FMSClientConfiguration(baseURL: URL(string: "http://127.0.0.1:9")!, appId: appId, secretKey: key)
        let client = try FMSClient(configuration: clientConfiguration, transport: transport)
        let first = try await client.reportTemplate("您的验证码是{code}，5分钟内有效").templateId
        let second = try await client.reportTemplate("订单{order}已由{carrier}发出").templateId
        return Harness(gateway: gateway, transport: transport, client: client, templates: [first, second])
    }

    /// How many times the gateway accepted each customFmsId.
    func ledgerCounts() -> [String: Int] {
        var counts: [String: Int] = [:]
        for entry in gateway.ledger() { counts[entry.customFmsId ?? "", default: 0] += 1 }
        return counts
    }

    /// The fmsIds the gateway gave each customFmsId.
    func ledgerFmsIds() -> [String: Set<String>] {
        var ids: [String: Set<String>] = [:]
        for entry in gateway.ledger() { ids[entry.customFmsId ?? "", default: []].insert(entry.fmsId) }
        return ids
    }
}

/// The outbox never had more than `limit` batch requests in flight at once.
func expectBoundedConcurrency(_ transport: TestTransport, limit: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    let peak = transport.maxInFlight
    #expect(peak >= 1, sourceLocation: sourceLocation)
    #expect(peak <= limit, "at most maxInFlight requests at once", sourceLocation: sourceLocation)
}

/// Collects what `onFailure` observers see.
final class FailureLog: Sendable {
    private let messages = Mutex<[StoredMessage]>([])
    var all: [StoredMessage] { messages.withLock { $0 } }
    func record(_ message: StoredMessage) { messages.withLock { $0.append(message) } }
}
