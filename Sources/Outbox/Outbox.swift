import Foundation
import FMSClient
import Synchronization
import FMSProtocol

/// Durable sending: accepts messages, keeps them across crashes, and delivers them.
///
/// `enqueue` returns once the message is in the intake log (one `write`, see `IntakeLog`).
/// The sender moves accepted messages into SQLite, coalesces those of one template into
/// batches of at most 300 within a short linger window, keeps a bounded number of requests
/// in flight, retries what can succeed later with exponential backoff and jitter (up to a
/// maximum age), and dead-letters what cannot, with the vendor code. A batch refused as a
/// whole for an entry-level reason is re-sent one message per request, so only the bad
/// entries die. Delivery is at-least-once: a request whose answer was lost is retried with
/// the same customFmsIds.
public actor Outbox {
    /// Tunables.
    public struct Configuration: Sendable {
        /// The state directory (holds outbox.db, intake.log, lock).
        public var directory: String
        /// How hard an accepted message is pushed to disk.
        public var durability: Durability = .normal
        /// Most messages per request (the vendor's limit is 300).
        public var maxBatch = ProtocolText.maximumBatchSize
        /// Seconds to wait for more messages of a template before sending a partial batch.
        public var linger = 0.01
        /// Most requests in flight.
        public var maxInFlight = 4
        /// First retry delay in seconds; doubles per attempt, with ±50 % jitter.
        public var retryBase = 1.0
        /// Longest retry delay in seconds.
        public var retryMax = 300.0
        /// Seconds after which a message that still fails is dead-lettered (default a day).
        public var maxAge = 86_400.0
        /// Days sent messages and handled reports are kept.
        public var retentionDays = 30.0
        /// Seconds to wait for another process to release the state directory before giving up.
        public var lockWait = 0.0

        /// Creates a configuration for `directory`.
        public init(directory: String) { self.directory = directory }
    }

    /// The configuration.
    public nonisolated let configuration: Configuration
    let store: OutboxStore
    private let intake: IntakeQueue
    private let wakeRequested = Mutex(false)
    private let client: FMSClient?
    private let clock: @Sendable () -> Double
    private var inFlight: Set<Int64> = []
    private var activeRequests = 0
    private var sender: Task<Void, Never>?
    private var wakeSignal: CheckedContinuation<Void, Never>?
    private var wakePending = false
    private var random = SystemRandomNumberGenerator()
    private var failureObservers: [@Sendable (StoredMessage) -> Void] = []
    private var changeObservers: [@Sendable () -> Void] = []
    /// While draining, the longest retry delay.
    private var drainRetryCap: Double?

    /// Opens the outbox; `client` is needed to send and fetch reports (nil: inspect only).
    public init(configuration: Configuration, client: FMSClient?,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) throws(OutboxError) {
        self.configuration = configuration
        self.client = client
        self.clock = clock
        let store = try OutboxStore(directory: configuration.directory, durability: configuration.durability,
                                    lockWait: configuration.lockWait)
        // Replay what a crash left in the intake log, then start a fresh one.
        let log = try IntakeLog(directory: configuration.directory, syncEachWrite: configuration.durability == .full)
        let leftover = try log.pendingRecords()
        if !leftover.isEmpty { try store.insert(leftover, at: clock()) }
        try log.clearAfterReplay()
        intake = IntakeQueue(log: log)
        try StateDirectory.prepare(IntakeHandover.folder(configuration.directory))
        try Outbox.takeHandedOver(into: store, directory: configuration.directory, now: clock())
        self.store = store
    }

    /// Moves messages other processes handed over (``IntakeHandover``) into the database, then
    /// wakes the sender; returns how many there were.
    @discardableResult
    public func absorbHandedOver() throws(OutboxError) -> HandoverResult {
        let result = try Outbox.takeHandedOver(into: store, directory: configuration.directory, now: clock())
        if result.queued > 0 { wake() }
        return result
    }

    /// What ``absorbHandedOver()`` took in.
    public struct HandoverResult: Sendable, Equatable {
        /// Messages now queued.
        public var queued = 0
        /// customFmsIds already in the outbox: not queued again.
        public var duplicates: [String] = []
    }

    @discardableResult
    private static func takeHandedOver(into store: OutboxStore, directory: String, now: Double) throws(OutboxError) -> HandoverResult {
        var result = HandoverResult()
        for file in IntakeHandover.waiting(directory: directory) {
            // Committed before the file goes: a crash in between replays it, and INSERT OR IGNORE keeps it once.
            let skipped = try store.insert(file.messages, at: now)
            unlink(file.path)
            result.queued += file.messages.count - skipped.count
            result.duplicates += skipped
        }
        return result
    }

    // MARK: Accepting

    /// Accepts messages: durable when this returns (no suspension: one locked `write`).
    /// Wakes the sender if it runs.
    public nonisolated func enqueue(_ messages: [NewMessage]) throws(OutboxError) {
        try intake.accept(messages)
        let first = wakeRequested.withLock { requested -> Bool in
            defer { requested = true }
            return !requested
        }
        if first { Task { await self.wakeFromIntake() } }
    }

    /// Accepts one message.
    public nonisolated func enqueue(_ message: NewMessage) throws(OutboxError) {
        try enqueue([message])
    }

    private func wakeFromIntake() {
        wake()
    }

    /// Moves accepted messages into the database.
    private func absorb() throws(OutboxError) {
        // From here on, a newly accepted message needs a new wake-up (it may miss this absorb).
        wakeRequested.withLock { $0 = false }
        let now = clock()
        try intake.absorb { messages throws(OutboxError) in try store.insert(messages, at: now) }
    }

    /// A fresh customFmsId (≤ 32 characters): time, process and a counter, unique per host.
    public nonisolated static func generateId(prefix: String = "fp") -> String {
        IdGenerator.shared.next(prefix: prefix)
    }

    // MARK: Sending

    /// Whether a gateway client was given (so the outbox can send and fetch reports).
    public var canSend: Bool { client != nil }

    /// Starts the sender (idempotent), after pruning what is past the retention.
    public func start() {
        guard sender == nil, client != nil else { return }
        _ = try? prune()
        sender = Task { await self.senderLoop() }
    }

    /// Stops the sender after the requests in flight finish or `timeout` passes.
    public func stop(timeout: Double = 10) async {
        sender?.cancel()
        sender = nil
        wake()
        let deadline = clock() + timeout
        while activeRequests > 0, clock() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        try? absorb()
    }

    /// Runs the sender until nothing is pending (or `timeout`); returns the counts left.
    ///
    /// Everything pending is tried at once, and retries wait at most `retryCap` seconds, so a
    /// drain bounded by `timeout` is not spent waiting out long backoffs.
    public func drain(timeout: Double, retryCap: Double = 2) async throws(OutboxError) -> OutboxCounts {
        try absorb()
        try store.makePendingDue(now: clock())
        drainRetryCap = retryCap
        defer { drainRetryCap = nil }
        start()
        let deadline = clock() + timeout
        while true {
            try absorb()
            try absorbHandedOver()
            // Done when nothing is pending but what a rate limit or quiet hours hold back for later.
            if activeRequests == 0, try !store.hasPending(heldBackAfter: clock()) { return try store.counts(now: clock()) }
            if clock() >= deadline { return try store.counts(now: clock()) }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Waits until the given messages are sent or dead (or `timeout`); returns their states.
    public func wait(for customIds: [String], timeout: Double) async throws(OutboxError) -> [String: MessageState] {
        start()
        let deadline = clock() + timeout
        var remaining = Set(customIds)
        while true {
            try absorb()
            // One query per tick for all of them: which are still pending.
            remaining.formIntersection(try store.customIds(in: .pending, among: remaining))
            if remaining.isEmpty || clock() >= deadline { break }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        let dead = try store.customIds(in: .dead, among: Set(customIds))
        var states: [String: MessageState] = [:]
        for id in customIds { states[id] = remaining.contains(id) ? .pending : (dead.contains(id) ? .dead : .sent) }
        return states
    }

    /// Calls `observer` with each message that is dead-lettered from now on.
    public func onFailure(_ observer: @escaping @Sendable (StoredMessage) -> Void) {
        failureObservers.append(observer)
    }

    /// Calls `observer` after every send result is recorded (sent, retried or dead).
    public func onChange(_ observer: @escaping @Sendable () -> Void) {
        changeObservers.append(observer)
    }

    /// Sends what is due until nothing due is left or `timeout` passes, then stops the sender
    /// (a watcher's clean stop). Messages held back for later stay queued.
    public func flush(timeout: Double) async {
        let deadline = clock() + timeout
        start()
        while clock() < deadline {
            do {
                try absorb()
                if activeRequests == 0, try !store.hasDue(now: clock()) { break }
            } catch {
                break
            }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        await stop(timeout: max(0, deadline - clock()))
    }

    /// Dead letters that `fms.on_failure` handlers have not seen yet, oldest first.
    public func undispatchedFailures(limit: Int = 500) throws(OutboxError) -> [StoredMessage] {
        try store.undispatchedFailures(limit: limit)
    }

    /// Records that `fms.on_failure` handlers saw these dead letters.
    public func markFailuresDispatched(_ ids: [Int64]) throws(OutboxError) {
        try store.markFailuresDispatched(ids)
    }

    private func wake() {
        if let signal = wakeSignal {
            wakeSignal = nil
            signal.resume()
        } else {
            wakePending = true
        }
    }

    /// Sleeps until woken or `seconds` pass (nil: until woken).
    private func sleep(_ seconds: Double?) async {
        if wakePending {
            wakePending = false
            return
        }
        let timer: Task<Void, Never>? = seconds.map { seconds in
            Task { [weak self] in
                // A cancelled timer (the sleep ended otherwise) must not wake a later sleep.
                guard (try? await Task.sleep(nanoseconds: UInt64(max(0.001, seconds) * 1_000_000_000))) != nil else { return }
                await self?.wake()
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            wakeSignal = continuation
        }
        timer?.cancel()
        wakePending = false
    }

    private func senderLoop() async {
        var lingered = false
        while !Task.isCancelled {
            do {
                let now = clock()
                try absorb()
                var launched = false
                if activeRequests < configuration.maxInFlight {
                    let room = (configuration.maxInFlight - activeRequests) * configuration.maxBatch
                    let due = try store.due(now: now, limit: room, excluding: inFlight)
                    let batches = Outbox.batches(due, maxBatch: configuration.maxBatch)
                    let full = batches.contains { $0.count >= configuration.maxBatch } || batches.count > 1
                    if !batches.isEmpty, !full, !lingered, configuration.linger > 0 {
                        lingered = true
                        await sleep(configuration.linger)
                        continue
                    }
                    lingered = false
                    for batch in batches where activeRequests < configuration.maxInFlight {
                        launch(batch)
                        launched = true
                    }
                }
                if launched { continue }
                let next = try store.nextDue(after: inFlight.isEmpty ? nil : clock())
                await sleep(next.map { max(0.001, $0 - clock()) })
            } catch {
                // The store failed (disk full, read-only): keep the messages, try again shortly.
                FileHandle.standardError.write(Data("fms: outbox: \(error)\n".utf8))
                await sleep(1)
            }
        }
    }

    /// Groups due messages by template (solo ones alone) into batches of at most `maxBatch`.
    static func batches(_ due: [(StoredMessage, solo: Bool)], maxBatch: Int) -> [[StoredMessage]] {
        var groups: [String: [StoredMessage]] = [:]
        var order: [String] = []
        var batches: [[StoredMessage]] = []
        for (message, solo) in due {
            if solo {
                batches.append([message])
                continue
            }
            let template = message.message.template
            if groups[template] == nil { order.append(template) }
            groups[template, default: []].append(message)
        }
        for template in order {
            let members = groups[template] ?? []
            stride(from: 0, to: members.count, by: maxBatch).forEach {
                batches.append(Array(members[$0..<min($0 + maxBatch, members.count)]))
            }
        }
        return batches
    }

    private func launch(_ batch: [StoredMessage]) {
        guard let client, let template = batch.first?.message.template else { return }
        activeRequests += 1
        inFlight.formUnion(batch.map(\.id))
        let entries = batch.map { BatchEntry(mobile: $0.message.mobile, customFmsId: $0.message.customId, content: $0.message.variables) }
        Task {
            let outcome: Result<[SentMessage], FMSClientError>
            do throws(FMSClientError) {
                outcome = .success(try await client.sendBatch(templateId: template, entries: entries))
            } catch {
                outcome = .failure(error)
            }
            self.complete(batch, outcome)
        }
    }

    private func complete(_ batch: [StoredMessage], _ outcome: Result<[SentMessage], FMSClientError>) {
        activeRequests -= 1
        inFlight.subtract(batch.map(\.id))
        defer { wake() }
        let now = clock()
        defer { for observer in changeObservers { observer() } }
        do {
            switch outcome {
            case .success(let sent):
                try store.markSent(zip(batch, sent).map { ($0.id, $1.fmsId) }, at: now)
            case .failure(let error):
                try record(error, for: batch, now: now)
            }
        } catch {
            FileHandle.standardError.write(Data("fms: outbox: cannot record a send result: \(error)\n".utf8))
        }
    }

    private func record(_ error: FMSClientError, for batch: [StoredMessage], now: Double) throws(OutboxError) {
        let code = error.resultCode?.name
        let text = error.description
        if error.isRetryable {
            var expired: [Int64] = []
            var next: [Int64: Double] = [:]
            for message in batch {
                // A message held back (quiet hours, rate limit) ages from the time it could first be sent.
                if now - max(message.createdAt, message.message.notBefore ?? 0) >= configuration.maxAge {
                    expired.append(message.id)
                } else {
                    let exponent = Double(min(message.attempts, 30))
                    let ceiling = min(configuration.retryMax, drainRetryCap ?? .infinity)
                    let base = min(ceiling, configuration.retryBase * pow(2, exponent))
                    next[message.id] = now + base * Double.random(in: 0.5...1.5, using: &random)
                }
            }
            if !expired.isEmpty { try killMessages(expired, batch, error: "gave up after \(Int(configuration.maxAge))s: " + text, code: code) }
            let retrying = batch.map(\.id).filter { next[$0] != nil }
            if !retrying.isEmpty { try store.markRetry(retrying, next: next, error: text, code: code) }
            return
        }
        if batch.count > 1, Outbox.isEntryLevel(error) {
            // Someone in the batch is bad: send them one by one to find out who.
            try store.markSolo(batch.map(\.id))
            return
        }
        try killMessages(batch.map(\.id), batch, error: text, code: code)
    }

    private func killMessages(_ ids: [Int64], _ batch: [StoredMessage], error: String, code: String?) throws(OutboxError) {
        try store.markDead(ids, error: error, code: code)
        guard !failureObservers.isEmpty else { return }
        let set = Set(ids)
        for var message in batch where set.contains(message.id) {
            // As stored: `markDead` counted this attempt.
            message.state = .dead
            message.attempts += 1
            message.lastError = error
            message.lastCode = code
            for observer in failureObservers { observer(message) }
        }
    }

    /// Whether a refusal may concern only some entries of a batch.
    static func isEntryLevel(_ error: FMSClientError) -> Bool {
        switch error {
        case .invalidArgument: return true
        case .gateway(_, let code):
            return [.mobileError, .mobileEmpty, .mobileNumber, .customFmsIdTooLong].contains(code)
        default: return false
        }
    }

    // MARK: Inspecting

    /// Counts by state.
    public func counts() throws(OutboxError) -> OutboxCounts {
        try absorb()
        return try store.counts(now: clock())
    }

    /// Messages in a state (or all), newest first.
    public func list(state: MessageState?, limit: Int = 100) throws(OutboxError) -> [StoredMessage] {
        try absorb()
        return try store.list(state: state, limit: limit)
    }

    /// One message by row id or customFmsId.
    public func find(_ reference: String) throws(OutboxError) -> StoredMessage? {
        try absorb()
        return try store.find(reference)
    }

    /// Puts messages (by id or customFmsId) back in the queue; returns how many moved.
    public func retry(_ references: [String]) throws(OutboxError) -> Int {
        try absorb()
        var ids: [Int64] = []
        for reference in references {
            guard let message = try store.find(reference) else { throw OutboxError(.notFound, "no message '\(reference)' in the outbox") }
            ids.append(message.id)
        }
        let moved = try store.retry(ids, now: clock())
        wake()
        return moved
    }

    /// Deletes all dead letters.
    public func purgeDead() throws(OutboxError) -> Int { try store.purgeDead() }

    /// Deletes sent messages and handled reports past the retention.
    public func prune() throws(OutboxError) -> Int {
        try store.prune(before: clock() - configuration.retentionDays * 86_400)
    }

    // MARK: Reports

    /// Fetches up to `max` reports and stores each batch in the journal before returning it.
    ///
    /// The gateway pops reports: they are committed here before anyone sees them.
    public func fetchReports(max: Int) async throws -> [JournaledReport] {
        guard let client else { throw OutboxError(.invalid, "no gateway configured") }
        var journaled: [JournaledReport] = []
        while journaled.count < max {
            let number = Swift.min(ProtocolText.maximumReportsPerCall, max - journaled.count)
            let batch: [DeliveryReport]
            do {
                batch = try await client.fetchReportsOnce(number: number)
            } catch {
                if journaled.isEmpty { throw error }
                break
            }
            journaled.append(contentsOf: try store.journal(batch, at: clock()))
            if batch.count < number { break }
        }
        return journaled
    }

    /// Reports stored but not yet handled (after a restart, say).
    public func undispatchedReports(limit: Int = 500) throws(OutboxError) -> [JournaledReport] {
        try store.undispatched(limit: limit)
    }

    /// Marks reports as handled.
    public func markDispatched(_ ids: [Int64]) throws(OutboxError) {
        try store.markDispatched(ids, at: clock())
    }

    // MARK: Rule state

    /// A persisted value of a rule.
    public func ruleState(rule: String, key: String) throws(OutboxError) -> String? {
        try store.ruleState(rule: rule, key: key)
    }

    /// Every persisted value of a rule, by key.
    public func ruleStates(rule: String) throws(OutboxError) -> [String: String] {
        try store.ruleStates(rule: rule)
    }

    /// Forgets the persisted values of a rule that are numbers below `limit` (expired deadlines).
    public func deleteRuleStates(rule: String, numericValueBelow limit: Double) throws(OutboxError) {
        try store.deleteRuleStates(rule: rule, numericValueBelow: limit)
    }

    /// Persists a value of a rule.
    public func setRuleState(rule: String, key: String, value: String) throws(OutboxError) {
        try store.setRuleState(rule: rule, key: key, value: value, at: clock())
    }
}
