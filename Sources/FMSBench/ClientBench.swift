import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import FMSClient
import FMSProtocol
import FMSSimulator

/// `fms-bench template` and `fms-bench client`: FMSClient against a gateway.
///
/// Against `--url` the gateway is a separate `fms sim` process (pass `--sim-pid` to record its
/// CPU time and memory); with `--in-process` it is a `Gateway` in this process reached without
/// sockets, which separates the codec and gateway work from the HTTP cost.
enum ClientBench {
    static let templateUsage = "template --url URL --app-id ID --secret-key-file FILE"
    static let clientUsage = "client (--url URL --app-id ID --secret-key-file FILE [--template-id ID] [--sim-pid PID] | --in-process yes)\n"
        + "         [--seconds 2] [--batch-concurrency 1,2,4,8] [--single-concurrency 8,32,64] [--batch-messages 30000]\n"
        + "         [--only batch|single] [--batch-mode api|chunks]\n"
        + "         [--transport urlsession|sockets]"

    /// Prints `{"bench":"template","templateId":…}` after registering the benchmark template.
    static func template(_ options: BenchOptions) async {
        let client = makeClient(options, concurrency: 1)
        let id = await registerTemplate(client)
        emit([("bench", .string("template")), ("templateId", .string(id))])
    }

    static func run(_ options: BenchOptions) async {
        let seconds = options.double("seconds", default: 2)
        let batchLevels = options.integers("batch-concurrency", default: [1, 2, 4, 8])
        let singleLevels = options.integers("single-concurrency", default: [8, 32, 64])
        // Whole requests of 300, and enough of them to warm up every connection.
        let batchMessages = max(((options.integer("batch-messages", default: 30_000) + 299) / 300) * 300,
                                (batchLevels.max() ?? 1) * 300)
        let only = options.string("only")
        let batchMode = options.string("batch-mode") ?? "api"
        guard batchMode == "api" || batchMode == "chunks" else { fail("--batch-mode: api or chunks", status: 64) }
        let inProcess = options.string("in-process") == "yes"
        let simPid = options.string("sim-pid").flatMap { Int32($0) }
        let gateway: Gateway? = inProcess ? makeGateway() : nil
        let sockets = options.string("transport") == "sockets"
        guard ["urlsession", "sockets", nil].contains(options.string("transport")) else {
            fail("--transport: urlsession or sockets", status: 64)
        }
        let transportName = inProcess ? "in-process" : sockets ? "http-sockets" : "http"

        var templateId = options.string("template-id")
        if templateId == nil {
            templateId = await registerTemplate(gateway.map { makeClient(gateway: $0, concurrency: 1) }
                                                ?? makeClient(options, concurrency: 1))
        }
        guard let templateId else { fail("no template id") }
        let entries = Payload.entries(count: batchMessages)

        // The simulator's own count of accepted messages, to check the client's count.
        let statsURL = inProcess ? nil : URL(string: options.required("url") + "/__sim/stats")
        func accepted() async -> Int64? {
            if let gateway { return gateway.statistics()["accepted"]?.lenientInteger }
            guard let statsURL, let (data, _) = try? await URLSession.shared.data(from: statsURL),
                  let stats = try? JSONParser.parse([UInt8](data)) else { return nil }
            return stats["accepted"]?.lenientInteger
        }

        func client(_ concurrency: Int) -> FMSClient {
            gateway.map { makeClient(gateway: $0, concurrency: concurrency) }
                ?? makeClient(options, concurrency: concurrency, sockets: sockets)
        }

        if only == nil || only == "batch" {
            for level in batchLevels {
                let fms = client(level)
                // Warm-up: `level` requests at once open the connections and fault in the code paths.
                await withTaskGroup(of: Void.self) { group in
                    for start in stride(from: 0, to: level * 300, by: 300) {
                        let chunk = Array(entries[start..<(start + 300)])
                        group.addTask { _ = try? await fms.sendBatch(templateId: templateId, entries: chunk) }
                    }
                }
                let acceptedBefore = await accepted()
                let window = Window(simPid: simPid)
                var sent = 0
                var requests = 0
                var failure: String?
                if batchMode == "api" {
                    // What a caller does: one sendBatch call with many messages; the client
                    // splits it into requests of 300 and keeps `level` of them in flight.
                    repeat {
                        do {
                            let answers = try await fms.sendBatch(templateId: templateId, entries: entries)
                            guard answers.count == entries.count else {
                                failure = "sendBatch returned \(answers.count) results for \(entries.count) messages"
                                break
                            }
                            sent += answers.count
                        } catch {
                            failure = "\(error)"
                            break
                        }
                        requests += (entries.count + 299) / 300
                    } while window.elapsed < seconds && sent < 5_000_000
                } else {
                    // The same load without the client's chunking: `level` tasks, each sending
                    // one 300-message sendBatch call after the other.
                    let counters = Counters()
                    let deadline = BenchClock.wall() + seconds
                    let chunks = entries.count / 300
                    await withTaskGroup(of: Void.self) { group in
                        for worker in 0..<level {
                            group.addTask {
                                var chunk = worker
                                while BenchClock.wall() < deadline && counters.sent.load(ordering: .relaxed) < 5_000_000 {
                                    let start = (chunk % chunks) * 300
                                    chunk += level
                                    do {
                                        let answers = try await fms.sendBatch(templateId: templateId,
                                                                              entries: Array(entries[start..<(start + 300)]))
                                        counters.sent.add(answers.count, ordering: .relaxed)
                                        counters.requests.add(1, ordering: .relaxed)
                                    } catch {
                                        counters.firstError.withLock { $0 = $0 ?? "\(error)" }
                                        return
                                    }
                                }
                            }
                        }
                    }
                    sent = counters.sent.load(ordering: .relaxed)
                    requests = counters.requests.load(ordering: .relaxed)
                    failure = counters.firstError.withLock { $0 }
                }
                window.finish()
                var extra: [(String, JSONValue)] = [("mode", .string(batchMode))]
                if let before = acceptedBefore, let after = await accepted() { extra.append(("gatewayAccepted", .integer(after - before))) }
                window.report("client.batch", transport: transportName, concurrency: level, messages: sent,
                              requests: requests, failure: failure, extra: extra)
            }
        }
        if only == nil || only == "single" {
            for level in singleLevels {
                let fms = client(level)
                let counters = Counters()
                // Warm-up: one send per worker, so every connection is open before timing.
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<level {
                        group.addTask {
                            let entry = entries[worker % entries.count]
                            _ = try? await fms.sendSingle(mobile: entry.mobile, templateId: templateId,
                                                          variables: entry.content, customFmsId: entry.customFmsId)
                        }
                    }
                }
                let acceptedBefore = await accepted()
                let window = Window(simPid: simPid)
                let deadline = BenchClock.wall() + seconds
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<level {
                        group.addTask {
                            var index = worker
                            while BenchClock.wall() < deadline && counters.sent.load(ordering: .relaxed) < 1_000_000 {
                                let entry = entries[index % entries.count]
                                index += level
                                do {
                                    _ = try await fms.sendSingle(mobile: entry.mobile, templateId: templateId,
                                                                 variables: entry.content, customFmsId: entry.customFmsId)
                                    counters.sent.add(1, ordering: .relaxed)
                                } catch {
                                    counters.failed.add(1, ordering: .relaxed)
                                    counters.firstError.withLock { $0 = $0 ?? "\(error)" }
                                    return
                                }
                            }
                        }
                    }
                }
                let sent = counters.sent.load(ordering: .relaxed)
                window.finish()
                var extra: [(String, JSONValue)] = []
                if let before = acceptedBefore, let after = await accepted() { extra.append(("gatewayAccepted", .integer(after - before))) }
                window.report("client.single", transport: transportName, concurrency: level, messages: sent, requests: sent,
                              failure: counters.firstError.withLock { $0 }, extra: extra)
            }
        }
    }

    // MARK: Plumbing

    static let appId = "BENCH-APP"

    static func makeClient(_ options: BenchOptions, concurrency: Int, sockets: Bool = false) -> FMSClient {
        let urlText = options.required("url")
        guard let url = URL(string: urlText), url.host == "127.0.0.1" || url.host == "localhost" else {
            fail("--url '\(urlText)': the benchmark only talks to 127.0.0.1", status: 64)
        }
        let keyPath = options.required("secret-key-file")
        let key: SecretKey
        do {
            key = try SecretKey(String(contentsOfFile: keyPath, encoding: .utf8))
        } catch {
            fail("--secret-key-file \(keyPath): \(error)", status: 64)
        }
        var configuration = FMSClientConfiguration(baseURL: url, appId: options.string("app-id") ?? appId, secretKey: key,
                                                   timeout: 10, maxConcurrentRequests: concurrency)
        configuration.requestValidPeriod = 300
        do {
            return try FMSClient(configuration: configuration, transport: sockets ? SocketTransport(url: url) : nil)
        } catch {
            fail("client configuration: \(error)", status: 64)
        }
    }

    static let inProcessKey = try! SecretKey("bench-key-0123ab")

    static func makeGateway() -> Gateway {
        Gateway(configuration: GatewayConfiguration(
            accounts: [SimulatorAccount(appId: appId, secretKey: inProcessKey, balance: 1_000_000_000)],
            rateLimits: [:], keepsLedger: false))
    }

    static func makeClient(gateway: Gateway, concurrency: Int) -> FMSClient {
        var configuration = FMSClientConfiguration(baseURL: URL(string: "http://127.0.0.1:1")!, appId: appId,
                                                   secretKey: inProcessKey, maxConcurrentRequests: concurrency)
        configuration.requestValidPeriod = 300
        do {
            return try FMSClient(configuration: configuration, transport: InProcessTransport(gateway: gateway))
        } catch {
            fail("client configuration: \(error)")
        }
    }

    static func registerTemplate(_ client: FMSClient) async -> String {
        do {
            return try await client.reportTemplate(Payload.template).templateId
        } catch {
            fail("cannot register the benchmark template: \(error)")
        }
    }
}

/// Shared counters of the single-send workers.
final class Counters: Sendable {
    let sent = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let requests = Atomic<Int>(0)
    let firstError = Mutex<String?>(nil)
}

/// A timed window: wall time, this process's CPU time and the simulator's.
final class Window {
    let simPid: Int32?
    let wallStart = BenchClock.wall()
    let cpuStart = BenchClock.processCPU()
    let simStart: Double?
    private var end: (wall: Double, cpu: Double, sim: Double?)?

    init(simPid: Int32?) {
        self.simPid = simPid
        simStart = simPid.flatMap { BenchClock.processCPU(pid: $0) }
    }

    var elapsed: Double { BenchClock.wall() - wallStart }

    /// Closes the window (later calls keep the first end).
    func finish() {
        if end == nil {
            end = (BenchClock.wall(), BenchClock.processCPU(), simPid.flatMap { BenchClock.processCPU(pid: $0) })
        }
    }

    func report(_ bench: String, transport: String, concurrency: Int, messages: Int, requests: Int, failure: String?,
                extra: [(String, JSONValue)] = []) {
        finish()
        guard let end else { return }
        let wall = end.wall - wallStart
        var members: [(String, JSONValue)] = [
            ("bench", .string(bench)), ("transport", .string(transport)), ("concurrency", .integer(Int64(concurrency))),
            ("messages", .integer(Int64(messages))), ("requests", .integer(Int64(requests))), ("seconds", number(wall)),
            ("perSecond", number(Double(messages) / wall)), ("clientCPU", number(end.cpu - cpuStart)),
        ]
        if let simPid, let start = simStart, let stop = end.sim {
            members.append(("simCPU", number(stop - start)))
            if let rss = BenchClock.residentBytes(pid: simPid) { members.append(("simRSS", .integer(rss))) }
        }
        members.append(contentsOf: extra)
        if let failure { members.append(("error", .string(failure))) }
        emit(members)
    }
}

/// Hands requests straight to a `Gateway` in this process: the protocol without sockets.
final class InProcessTransport: HTTPTransport {
    let gateway: Gateway

    init(gateway: Gateway) { self.gateway = gateway }

    func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        guard let (mode, endpoint) = Endpoint.parse(path: request.url.path) else {
            return TransportResponse(status: 404, headers: [], body: [])
        }
        let answer = gateway.handle(mode: mode, endpoint: endpoint, header: { name in
            request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }, body: request.body, clientIP: "127.0.0.1")
        return TransportResponse(status: 200, headers: [(ProtocolHeader.result, answer.result.name)], body: answer.body)
    }
}
