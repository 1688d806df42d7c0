import Foundation
import FMSClient
import LuaKit
import Outbox
import Synchronization

/// `fms watch`: keeps a rule set running, feeds its registrations from their event sources,
/// reloads it when its files change, and shuts down cleanly.
///
/// The rule set runs in one Lua state (a ``LuaRuntime``); each registration's events go through
/// its own ``HandlerChannel``. A reload builds a new rule set beside the running one and swaps
/// them only when every file loaded: a broken edit leaves the old rules running. The new
/// sources start before the old ones stop (the old ones hand over what they still held), so no
/// event falls between them. The outbox, the cooldown windows, tail positions and persisted
/// state (balance edges, cooldowns, tail offsets) outlive reloads.
///
/// The pieces live in extensions: files and tails (`Watcher+Files`), timers, the balance and
/// cooldowns (`Watcher+Timers`), reports, failures and metrics (`Watcher+Reports`).
public actor Watcher {
    /// How the watcher runs.
    public struct Options: Sendable {
        /// Rule files and folders (each `*.lua` in a folder, `*.meta.lua` skipped).
        public var rulePaths: [String]
        /// Memory cap and instruction budget of the rule set's state.
        public var limits = LuaLimits()
        /// Log sends instead of queueing them.
        public var dryRun = false
        /// How often delivery reports are fetched while someone waits for them.
        public var reportInterval = 10.0
        /// How long shutdown waits for running handlers, then for the sender.
        public var shutdownTimeout = 10.0
        /// How long rule-file changes settle before a reload.
        public var reloadDelay = 0.3
        /// Whether rule files are watched for changes (SIGHUP reloads in any case).
        public var reloadOnChange = true
        /// Where the metrics file goes, if anywhere.
        public var metricsFile: String?

        /// Options for `rulePaths`.
        public init(rulePaths: [String]) { self.rulePaths = rulePaths }
    }

    /// Why the watcher could not start.
    public struct StartError: Error, CustomStringConvertible {
        /// What went wrong, naming the file (and line) at fault.
        public var message: String
        /// A Lua traceback, when there is one.
        public var traceback: String
        /// Whether a rules path does not exist (rather than failing to load).
        public var missingPath: Bool
        public var description: String { message }
    }

    /// One loaded rule set and the sources feeding it.
    final class Generation: Sendable {
        let number: Int
        let rules: RuleSet
        let channels: [Int: HandlerChannel]
        let fileWatcher = Mutex<FileWatcher?>(nil)
        let timerTokens = Mutex<[Int: [Int]]>([:])
        let balanceEdges = Mutex<[Int: BalanceEdge]>([:])
        let balanceChecks = Mutex<Set<Int>>([])

        init(number: Int, rules: RuleSet, channels: [Int: HandlerChannel]) {
            self.number = number
            self.rules = rules
            self.channels = channels
        }

        /// The running registrations of `kind`, in registration order.
        func registrations(_ kind: String) -> [HandlerChannel] {
            channels.values.filter { $0.registration.kind == kind && !rules.context.registry.isStopped($0.registration.id) }
                .sorted { $0.registration.id < $1.registration.id }
        }
    }

    let options: Options
    let backend: any GatewayBackend
    let outbox: Outbox?
    let logger: WatchLogger
    /// The counters (also written to the metrics file).
    public nonisolated let metrics = WatchMetrics()
    /// What the rules sent, suppressed, deferred (across reloads).
    public nonisolated let tally = SendTally()
    let cooldowns = CooldownState()
    let scheduler = TimerScheduler()
    var generation: Generation?
    var generationCount = 0
    var ruleFileWatcher: FileWatcher?
    var handoverWatcher: FileWatcher?
    /// Tail positions by rule, path and match: kept across reloads, so no line is read twice.
    var tailFollowers: [String: TailFollower] = [:]
    var reloadRequested = false
    var reloading = false
    var reportToken: Int?
    var reportPollRunning = false
    var metricsWriter: MetricsFileWriter?
    var outboxAtStart: OutboxCounts?
    var stopped = false
    let wallClock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    /// A watcher sending through `outbox` (nil: nowhere — dry runs) and asking `backend` for the balance.
    public init(options: Options, backend: any GatewayBackend, outbox: Outbox?, logger: WatchLogger) {
        self.options = options
        self.backend = backend
        self.outbox = outbox
        self.logger = logger
    }

    // MARK: Start, reload, stop

    /// Loads the rules and starts their sources, the report poller and the metrics file.
    public func start() async throws(StartError) {
        let files: [String]
        do {
            files = try RuleChecker.expand(options.rulePaths, allowEmptyFolders: true)
        } catch {
            throw StartError(message: "\(error)", traceback: "", missingPath: true)
        }
        await restoreCooldowns()
        let rules: RuleSet
        do {
            rules = try await RuleSet.load(files: files, context: makeContext(), limits: options.limits)
        } catch {
            throw StartError(message: error.message, traceback: error.traceback, missingPath: false)
        }
        await scheduler.watchClockChanges()
        startMetricsFile()
        if let outbox {
            outboxAtStart = try? await outbox.counts()
            await outbox.onFailure { [weak self] message in
                Task { await self?.dispatchFailures([message], live: true) }
            }
            let metrics = metrics
            await outbox.onChange { metrics.noteOutboxChange() }
        }
        await activate(rules)
        if options.reloadOnChange { watchRuleFiles() }
        if let outbox {
            await outbox.start()
            watchHandovers(outbox)
            await dispatchUndispatchedReports()
            await dispatchUndispatchedFailures()
        }
        await scheduleReportPolls()
        await metricsWriter?.writeNow()
        let count = generation?.channels.count ?? 0
        if files.isEmpty {
            logger.log(.warn, "no rule files yet: waiting for *.lua files to appear in \(options.rulePaths.joined(separator: ", "))")
        }
        logger.log(.info, "watching: \(files.count) rule file(s), \(count) registration(s)"
                   + (options.dryRun ? " (dry run: nothing is sent)" : ""))
    }

    /// Builds a new rule set from the files; swaps it in only if every file loads.
    public func reload(reason: String) async {
        guard !stopped else { return }
        if reloading {
            reloadRequested = true
            return
        }
        reloading = true
        defer { reloading = false }
        repeat {
            reloadRequested = false
            await reloadOnce(reason: reason)
        } while reloadRequested && !stopped
    }

    private func reloadOnce(reason: String) async {
        let files: [String]
        do {
            files = try RuleChecker.expand(options.rulePaths, allowEmptyFolders: true)
        } catch {
            metrics.noteReload(ok: false)
            logger.log(.error, "reload (\(reason)) failed, the running rules stay: \(error)")
            return
        }
        let rules: RuleSet
        do {
            rules = try await RuleSet.load(files: files, context: makeContext(), limits: options.limits)
        } catch {
            metrics.noteReload(ok: false)
            logger.log(.error, "reload (\(reason)) failed, the running rules stay: \(error.message)",
                       error.traceback.isEmpty ? [] : [("traceback", error.traceback)])
            return
        }
        guard !stopped else { return }
        let old = generation
        // The new sources first, then the old ones stop, handing over what they held.
        await activate(rules)
        if let old { await deactivate(old, flushing: true) }
        guard !stopped else { return }
        forgetUnusedTails()
        metrics.noteReload(ok: true)
        await scheduleReportPolls()
        logger.log(.info, "reloaded (\(reason)): \(files.count) rule file(s), \(generation?.channels.count ?? 0) registration(s)")
    }

    /// Stops the sources; lets the handlers that are running finish, drops the events still
    /// queued (a report or tail line not handled comes again after a restart) and sends what is
    /// due — each bounded by the shutdown timeout; returns a one-line summary.
    public func shutdown() async -> String {
        stopped = true
        ruleFileWatcher?.stop()
        ruleFileWatcher = nil
        handoverWatcher?.stop()
        handoverWatcher = nil
        await scheduler.stop()
        if let old = generation {
            for channel in old.channels.values { channel.close(dropQueued: true) }
            await deactivate(old, flushing: false)
            let finished = await waitAtMost(options.shutdownTimeout) {
                for channel in old.channels.values { await channel.finished() }
            }
            if !finished {
                logger.log(.warn, "shutdown: handlers still running after \(Int(options.shutdownTimeout))s; leaving them")
            }
        }
        generation = nil
        if let outbox { await outbox.flush(timeout: options.shutdownTimeout) }
        metricsWriter?.cancel()
        metrics.noteStopped()
        await metricsWriter?.writeNow()
        return await summary()
    }

    /// Events, handler runs and errors, and what was sent: for the last log line.
    func summary() async -> String {
        let events = metrics.events.values.reduce(0, +)
        let sends = tally.counts
        var text = "\(events) event(s), \(metrics.handlerRuns) handler run(s), \(metrics.handlerErrors) error(s); "
        text += "\(sends.queued) message(s) queued"
        if sends.deferred > 0 { text += " (\(sends.deferred) deferred)" }
        if let outbox, let start = outboxAtStart, let end = try? await outbox.counts() {
            text += ", \(end.sent - start.sent) sent, \(max(0, end.dead - start.dead)) dead, \(end.pending) pending"
        }
        text += ", \(sends.suppressed) suppressed by cooldowns"
        if sends.dryRun > 0 { text += ", \(sends.dryRun) dry-run send(s) logged" }
        return text
    }

    // MARK: Generations

    private func makeContext() -> FMSModuleContext {
        let logger = logger
        let context = FMSModuleContext(mode: .watch, backend: backend,
                                       outbox: outbox.map { outbox in OutboxHandle { () throws(OutboxError) in outbox } },
                                       dryRun: options.dryRun, tally: tally, cooldowns: cooldowns) { line in
            let level: WatchLogger.Level = line.level == "error" ? .error : line.level == "warn" ? .warn : .info
            logger.log(level, line.message, [("position", line.position)])
        }
        context.observeCooldownWindows { [weak self] window in
            Task { await self?.cooldownOpened(window) }
        }
        return context
    }

    private func activate(_ rules: RuleSet) async {
        generationCount += 1
        let number = generationCount
        var channels: [Int: HandlerChannel] = [:]
        let metrics = metrics
        let logger = logger
        for registration in rules.context.registry.registrations {
            guard let handler = registration.handler else { continue }
            channels[registration.id] = HandlerChannel(registration: registration, handler: handler, runtime: rules.runtime) {
                registration, result in
                metrics.noteHandlerRun(rule: registration.rule, failed: { if case .failure = result { true } else { false } }())
                if case .failure(let error) = result {
                    logger.log(.error, "\(registration.kind) handler failed: \(error.message)",
                               [("position", registration.position), ("traceback", error.traceback)])
                }
            }
        }
        let current = Generation(number: number, rules: rules, channels: channels)
        generation = current
        metrics.noteRulesLoaded(rules.files.count)
        rules.context.registry.observeStops { [weak self] id in
            Task { await self?.stopRegistration(id, in: number) }
        }
        // Registrations stopped while the files loaded never start.
        for registration in rules.context.registry.registrations where rules.context.registry.isStopped(registration.id) {
            channels[registration.id]?.close()
        }
        await startFileSources(current)
        await startTimers(current)
    }

    /// Stops a generation's sources (`flushing`: delivering what its file watcher still held)
    /// and closes its channels; the events queued in them still run unless closed to drop them.
    private func deactivate(_ old: Generation, flushing: Bool) async {
        if let watcher = old.fileWatcher.withLock({ current -> FileWatcher? in
            defer { current = nil }
            return current
        }) {
            await Self.stopOffThePool(watcher, flushing: flushing)
        }
        let tokens = old.timerTokens.withLock { tokens in
            defer { tokens = [:] }
            return tokens.values.flatMap { $0 }
        }
        await scheduler.remove(tokens)
        for channel in old.channels.values { channel.close() }
    }

    /// Stops a file watcher from a thread of its own: joining its thread may wait for a full
    /// handler queue to drain, which must not hold one of Swift's few cooperative threads.
    static func stopOffThePool(_ watcher: FileWatcher, flushing: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                watcher.stop(flushing: flushing)
                continuation.resume()
            }.start()
        }
    }

    /// `handle:stop()`: closes the registration's channel and cancels its timers. A stopped
    /// watch or tail stays in the file watcher (whose events for it are then dropped) until the
    /// next reload, so the other registrations lose nothing.
    private func stopRegistration(_ id: Int, in number: Int) async {
        guard let current = generation, current.number == number, let channel = current.channels[id] else { return }
        channel.close()
        if let tokens = current.timerTokens.withLock({ $0.removeValue(forKey: id) }) { await scheduler.remove(tokens) }
        logger.log(.info, "stopped \(channel.registration.kind): \(channel.registration.summary)",
                   [("position", channel.registration.position)])
        await scheduleReportPolls()
    }
}
