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
/// them only when every file loaded: a broken edit leaves the old rules running. The outbox, the
/// cooldown windows and persisted state (balance edges, tail offsets) outlive reloads.
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
    private final class Generation: Sendable {
        let number: Int
        let rules: RuleSet
        let channels: [Int: HandlerChannel]
        let fileWatcher = Mutex<FileWatcher?>(nil)
        let timerTokens = Mutex<[Int: [Int]]>([:])
        let balanceEdges = Mutex<[Int: BalanceEdge]>([:])

        init(number: Int, rules: RuleSet, channels: [Int: HandlerChannel]) {
            self.number = number
            self.rules = rules
            self.channels = channels
        }

        func registrations(_ kind: String) -> [HandlerChannel] {
            channels.values.filter { $0.registration.kind == kind && !rules.context.registry.isStopped($0.registration.id) }
                .sorted { $0.registration.id < $1.registration.id }
        }
    }

    private let options: Options
    private let backend: any GatewayBackend
    private let outbox: Outbox?
    private let logger: WatchLogger
    /// The counters (also written to the metrics file).
    public nonisolated let metrics = WatchMetrics()
    /// What the rules sent, suppressed, deferred (across reloads).
    public nonisolated let tally = SendTally()
    private let cooldowns = CooldownState()
    private let scheduler = TimerScheduler()
    private var generation: Generation?
    private var generationCount = 0
    private var ruleFileWatcher: FileWatcher?
    private var handoverWatcher: FileWatcher?
    private var reloadRequested = false
    private var reloading = false
    private var reportToken: Int?
    private var reportPollRunning = false
    private var metricsWriter: MetricsFileWriter?
    private var stopped = false
    private let wallClock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

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
        let rules: RuleSet
        do {
            rules = try await RuleSet.load(files: files, context: makeContext(), limits: options.limits)
        } catch {
            throw StartError(message: error.message, traceback: error.traceback, missingPath: false)
        }
        await restoreCooldowns()
        if let path = options.metricsFile {
            let writer = MetricsFileWriter(path: path, render: { [weak self] in await self?.renderMetrics() ?? "" },
                                           report: { [logger] message in logger.log(.warn, message) })
            metricsWriter = writer
            metrics.observeChanges { writer.changed() }
        }
        await activate(rules)
        if options.reloadOnChange { watchRuleFiles() }
        if let outbox {
            await outbox.onFailure { [weak self] message in
                Task { await self?.dispatchFailure(message) }
            }
            await outbox.start()
            watchHandovers(outbox)
            await dispatchUndispatchedReports()
        }
        await scheduleReportPolls()
        await metricsWriter?.writeNow()
        let count = generation?.channels.count ?? 0
        if files.isEmpty { logger.log(.warn, "no rule files yet: waiting for *.lua files to appear in \(options.rulePaths.joined(separator: ", "))") }
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
        if let old = generation { await deactivate(old, waitForHandlers: false) }
        await activate(rules)
        metrics.noteReload(ok: true)
        await scheduleReportPolls()
        if options.reloadOnChange { watchRuleFiles() }
        logger.log(.info, "reloaded (\(reason)): \(files.count) rule file(s), \(generation?.channels.count ?? 0) registration(s)")
    }

    /// Stops the sources, lets running handlers finish and the sender flush (each bounded by
    /// the shutdown timeout), and returns a one-line summary.
    public func shutdown() async -> String {
        stopped = true
        ruleFileWatcher?.stop()
        ruleFileWatcher = nil
        handoverWatcher?.stop()
        handoverWatcher = nil
        await scheduler.stop()
        if let old = generation {
            let finished = await withDeadline(options.shutdownTimeout) { await self.deactivate(old, waitForHandlers: true) }
            if !finished { logger.log(.warn, "shutdown: handlers still running after \(Int(options.shutdownTimeout))s; leaving them") }
        }
        generation = nil
        if let outbox { await outbox.stop(timeout: options.shutdownTimeout) }
        metricsWriter?.cancel()
        metrics.noteStopped()
        await metricsWriter?.writeNow()
        return summary()
    }

    /// Events, handler runs and errors, and what was sent: for the last log line.
    public nonisolated func summary() -> String {
        let events = metrics.events.values.reduce(0, +)
        let sends = tally.counts
        var text = "\(events) event(s), \(metrics.handlerRuns) handler run(s), \(metrics.handlerErrors) error(s); "
        text += "\(sends.queued) message(s) queued"
        if sends.deferred > 0 { text += " (\(sends.deferred) deferred)" }
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

    private func deactivate(_ old: Generation, waitForHandlers: Bool) async {
        old.fileWatcher.withLock { watcher in
            watcher?.stop()
            watcher = nil
        }
        let tokens = old.timerTokens.withLock { tokens in
            defer { tokens = [:] }
            return tokens.values.flatMap { $0 }
        }
        await scheduler.remove(tokens)
        for channel in old.channels.values { channel.close() }
        if waitForHandlers {
            for channel in old.channels.values { await channel.finished() }
        }
    }

    private func stopRegistration(_ id: Int, in number: Int) async {
        guard let current = generation, current.number == number, let channel = current.channels[id] else { return }
        channel.close()
        if let tokens = current.timerTokens.withLock({ $0.removeValue(forKey: id) }) { await scheduler.remove(tokens) }
        if case .watch? = channel.registration.spec { await restartFileSources(current) }
        if case .tail? = channel.registration.spec { await restartFileSources(current) }
        logger.log(.info, "stopped \(channel.registration.kind): \(channel.registration.summary)",
                   [("position", channel.registration.position)])
        await scheduleReportPolls()
    }

    // MARK: Files and tails

    private func restartFileSources(_ current: Generation) async {
        current.fileWatcher.withLock { watcher in
            watcher?.stop()
            watcher = nil
        }
        await startFileSources(current, tailsResume: true)
    }

    /// What a watch spec of the generation's file watcher is for.
    private enum FileTarget: Sendable {
        case watch(HandlerChannel)
        case tail(HandlerChannel, TailFollower)
    }

    private func startFileSources(_ current: Generation, tailsResume: Bool = false) async {
        var specs: [WatchSpec] = []
        var targets: [FileTarget] = []
        for channel in current.registrations("watch") + current.registrations("tail") {
            switch channel.registration.spec {
            case .watch(let spec)?:
                specs.append(spec)
                targets.append(.watch(channel))
            case .tail(let path, let match)?:
                let saved = await loadTailState(channel.registration, path: path)
                let follower = TailFollower(path: path, match: match, state: saved)
                specs.append(WatchSpec(path: WatchPath.parent(path), glob: Self.escapeGlob(WatchPath.name(path)),
                                       kinds: FileEvent.Kind.watchable))
                targets.append(.tail(channel, follower))
            default:
                continue
            }
        }
        guard !specs.isEmpty else { return }
        // Lines written while the watcher was away (or between loading and watching) count.
        for target in targets { if case .tail(let channel, let follower) = target { pollTail(channel, follower) } }
        var active = Array(specs.indices)
        while !active.isEmpty {
            let chosenSpecs = active.map { specs[$0] }
            let chosenTargets = active.map { targets[$0] }
            let metrics = metrics
            let logger = logger
            let wallClock = wallClock
            do {
                let watcher = try FileWatcher(chosenSpecs, errors: { error in
                    logger.log(.warn, "file watch: \(error)")
                }, handler: { event in
                    let target = chosenTargets[event.specIndex]
                    switch target {
                    case .watch(let channel):
                        metrics.noteEvent(.watch)
                        channel.deliver([EventTables.file(event, time: wallClock())])
                    case .tail(let channel, let follower):
                        Watcher.pollTailNonisolated(channel, follower, metrics: metrics, logger: logger, outbox: self.outbox,
                                                    wallClock: wallClock)
                    }
                })
                current.fileWatcher.withLock { $0 = watcher }
                return
            } catch {
                // Leave out the registrations whose path cannot be watched; keep the others.
                let failing = active.filter { index in
                    guard let bad = error.path else { return false }
                    let path = specs[index].path
                    return path == bad || WatchPath.isInside(path, bad) || WatchPath.isInside(bad, path)
                }
                let dropped = failing.isEmpty ? active : failing
                for index in dropped {
                    let registration: Registration
                    switch targets[index] {
                    case .watch(let channel), .tail(let channel, _): registration = channel.registration
                    }
                    logger.log(.error, "\(registration.kind) cannot watch \(specs[index].path): \(error); this registration is inactive "
                               + "until the next reload", [("position", registration.position)])
                }
                active.removeAll { dropped.contains($0) }
            }
        }
    }

    private func pollTail(_ channel: HandlerChannel, _ follower: TailFollower) {
        Self.pollTailNonisolated(channel, follower, metrics: metrics, logger: logger, outbox: outbox, wallClock: wallClock)
    }

    /// Polls a tail until it has nothing more, delivering each line; the offset is persisted once
    /// the batch's last line was handled.
    private nonisolated static func pollTailNonisolated(_ channel: HandlerChannel, _ follower: TailFollower, metrics: WatchMetrics,
                                                        logger: WatchLogger, outbox: Outbox?, wallClock: @Sendable () -> Double) {
        var more = true
        while more {
            let batch = follower.poll()
            more = batch.more
            for problem in batch.problems {
                logger.log(.warn, "tail \(follower.path): \(problem)", [("position", channel.registration.position)])
            }
            let info = LuaValue.table(LuaTable(["path": .text(follower.path), "time": .number(wallClock())]))
            let registration = channel.registration
            let state = TailFollower.encode(batch.state)
            let persist: @Sendable () async -> Void = {
                guard let outbox else { return }
                do {
                    try await outbox.setRuleState(rule: registration.rule, key: "tail:" + follower.path, value: state)
                } catch {
                    logger.log(.warn, "tail \(follower.path): cannot save the offset: \(error)", [("position", registration.position)])
                }
            }
            guard !batch.lines.isEmpty else {
                // A rotation or truncation without new lines still moves the saved position.
                if !batch.events.isEmpty { Task { await persist() } }
                continue
            }
            metrics.noteEvent(.tail, count: batch.lines.count)
            for (offset, line) in batch.lines.enumerated() {
                channel.deliver([.text(line), info], afterwards: offset == batch.lines.count - 1 ? persist : nil)
            }
        }
    }

    private func loadTailState(_ registration: Registration, path: String) async -> LogTailState? {
        guard let outbox else { return nil }
        do {
            return TailFollower.decode(try await outbox.ruleState(rule: registration.rule, key: "tail:" + path))
        } catch {
            logger.log(.warn, "tail \(path): cannot read the saved offset: \(error)", [("position", registration.position)])
            return nil
        }
    }

    /// A file name as an `fnmatch` pattern matching only itself.
    static func escapeGlob(_ name: String) -> String {
        var out = ""
        for character in name {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    private func watchRuleFiles() {
        ruleFileWatcher?.stop()
        ruleFileWatcher = nil
        var specs: [WatchSpec] = []
        for path in options.rulePaths {
            var isDirectory: ObjCBool = false
            let absolute = WatchSpec.normalize(path)
            if FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), isDirectory.boolValue {
                specs.append(WatchSpec(path: absolute, glob: "*.lua", kinds: [.create, .modify, .move, .delete],
                                       debounce: options.reloadDelay))
            } else {
                specs.append(WatchSpec(path: WatchPath.parent(absolute), glob: Self.escapeGlob(WatchPath.name(absolute)),
                                       kinds: [.create, .modify, .move, .delete], debounce: options.reloadDelay))
            }
        }
        do {
            ruleFileWatcher = try FileWatcher(specs) { [weak self] event in
                guard !event.path.hasSuffix(".meta.lua") else { return }
                Task { await self?.reload(reason: "\(WatchPath.name(event.path)) changed") }
            }
        } catch {
            logger.log(.warn, "cannot watch the rule files for changes (\(error)); reload with SIGHUP")
        }
    }

    /// Takes in what `fms send --queue` hands over while this process holds the state directory.
    private func watchHandovers(_ outbox: Outbox) {
        let folder = IntakeHandover.folder(outbox.configuration.directory)
        let logger = logger
        let take: @Sendable () async -> Void = {
            do {
                let count = try await outbox.absorbHandedOver()
                if count > 0 { logger.log(.info, "queued \(count) message(s) handed over by another fms process") }
            } catch {
                logger.log(.error, "cannot take the messages handed over in \(folder): \(error)")
            }
        }
        do {
            handoverWatcher = try FileWatcher([WatchSpec(path: folder, glob: "*.log", kinds: [.create, .move])]) { _ in
                Task { await take() }
            }
        } catch {
            logger.log(.warn, "cannot watch \(folder) (\(error)): messages queued by 'fms send --queue' wait for the next start")
        }
        // Files that arrived between opening the outbox and watching the folder.
        Task { await take() }
    }

    // MARK: Timers and balance

    private func startTimers(_ current: Generation) async {
        let zone = current.rules.context.configuration.timezone.flatMap(TimeZone.init(identifier:)) ?? TimeZone.current
        for channel in current.registrations("every") + current.registrations("cron") + current.registrations("balance_below") {
            let registration = channel.registration
            let metrics = metrics
            var tokens: [Int] = []
            switch registration.spec {
            case .every(let timer)?:
                tokens.append(await scheduler.addEvery(timer) { firing in
                    metrics.noteEvent(.every)
                    channel.deliver([EventTables.firing(firing)])
                })
            case .cron(let expression)?:
                let timer = CronTimer(expression, timeZone: zone)
                guard let due = timer.firstDue(startingAt: Date()) else {
                    logger.log(.warn, "cron '\(registration.summary)' never fires", [("position", registration.position)])
                    continue
                }
                tokens.append(await scheduler.add(.cron(timer, due: due)) { firing in
                    metrics.noteEvent(.cron)
                    channel.deliver([EventTables.firing(firing)])
                })
            case .balanceBelow(let threshold, let rearm, let interval)?:
                guard let timer = EveryTimer(period: interval) else { continue }
                let id = registration.id
                let number = current.number
                tokens.append(await scheduler.addEvery(timer, firstIn: 0) { [weak self] _ in
                    Task { await self?.checkBalance(registration: id, generation: number, threshold: threshold, rearm: rearm) }
                })
            default:
                continue
            }
            current.timerTokens.withLock { $0[registration.id] = tokens }
        }
    }

    private func checkBalance(registration id: Int, generation number: Int, threshold: Int64, rearm: Int64) async {
        guard let current = generation, current.number == number, let channel = current.channels[id] else { return }
        let registration = channel.registration
        let balance: Int64
        do throws(FMSClientError) {
            balance = try await backend.balance()
        } catch {
            logger.log(.warn, "balance check failed: \(error)", [("position", registration.position)])
            return
        }
        metrics.noteBalance(balance)
        var edge: BalanceEdge
        if let known = current.balanceEdges.withLock({ $0[id] }) {
            edge = known
        } else {
            edge = BalanceEdge(threshold: threshold, rearm: rearm)
            if let outbox, let saved = try? await outbox.ruleState(rule: registration.rule, key: edge.stateKey),
               let side = BalanceEdge.Side(rawValue: saved) {
                edge.side = side
            }
        }
        let before = edge.side
        let fire = edge.update(balance: balance)
        current.balanceEdges.withLock { $0[id] = edge }
        if edge.side != before, let outbox, !options.dryRun {
            do {
                try await outbox.setRuleState(rule: registration.rule, key: edge.stateKey, value: edge.side.rawValue)
            } catch {
                logger.log(.warn, "cannot save the balance edge: \(error)", [("position", registration.position)])
            }
        }
        if edge.side != before {
            logger.log(.info, "balance \(balance) is \(edge.side == .below ? "below \(threshold)" : "back at or above \(rearm)")",
                       [("position", registration.position)])
        }
        if fire {
            metrics.noteEvent(.balance)
            channel.deliver([.integer(balance), .integer(threshold)])
        }
    }

    // MARK: Cooldown summaries

    /// The rule-state name under which open cooldown windows are kept across restarts.
    static let cooldownStateRule = "fms:cooldown"

    private func cooldownOpened(_ window: FMSModuleContext.CooldownWindow) async {
        guard !stopped else { return }
        if let outbox, !options.dryRun {
            do {
                try await outbox.setRuleState(rule: Self.cooldownStateRule, key: window.key, value: String(window.end))
            } catch {
                logger.log(.warn, "cannot save the cooldown of key '\(window.key)': \(error)")
            }
        }
        guard window.summary else { return }
        await scheduler.add(.once(at: window.end + 0.05)) { [weak self] _ in
            Task { await self?.sendSummaries() }
        }
    }

    /// Re-opens the cooldown windows of the last run that have not closed yet, and forgets the others.
    private func restoreCooldowns() async {
        guard let outbox, !options.dryRun else { return }
        do {
            let saved = try await outbox.ruleStates(rule: Self.cooldownStateRule)
            let now = wallClock()
            var windows: [String: Double] = [:]
            var expired: [String] = []
            for (key, value) in saved {
                if let end = Double(value), end > now { windows[key] = end } else { expired.append(key) }
            }
            cooldowns.restore(windows, now: now)
            try await outbox.deleteRuleStates(rule: Self.cooldownStateRule, keys: expired)
            if !windows.isEmpty { logger.log(.info, "\(windows.count) cooldown window(s) still open from the last run") }
        } catch {
            logger.log(.warn, "cannot restore the cooldowns of the last run: \(error)")
        }
    }

    private func sendSummaries() async {
        guard let current = generation else { return }
        let messages = current.rules.context.closedCooldownSummaries()
        guard !messages.isEmpty else { return }
        for message in messages {
            logger.log(.info, "cooldown of key '\(message.key ?? "")' closed: \(message.variables["summary"] ?? "") "
                       + "(summary to \(message.mobile))")
        }
        guard let outbox, !options.dryRun else { return }
        // Summaries are sends like any other: the rate limit and quiet hours apply.
        let scheduled = messages.map { message in
            var message = message
            message.notBefore = current.rules.context.sendTime(urgent: false)
            return message
        }
        do {
            try outbox.enqueue(scheduled)
            tally.noteQueued(scheduled.count, deferred: scheduled.filter { $0.notBefore != nil }.count)
        } catch {
            logger.log(.error, "cannot queue cooldown summaries: \(error)")
        }
    }

    // MARK: Reports and failures

    private func scheduleReportPolls() async {
        let wanted = outbox != nil && !(generation?.registrations("on_report").isEmpty ?? true)
        if wanted, reportToken == nil, let timer = EveryTimer(period: options.reportInterval) {
            reportToken = await scheduler.addEvery(timer) { [weak self] _ in
                Task { await self?.pollReports() }
            }
        } else if !wanted, let token = reportToken {
            await scheduler.remove([token])
            reportToken = nil
        }
    }

    private func pollReports() async {
        guard let outbox, !reportPollRunning, !stopped else { return }
        reportPollRunning = true
        defer { reportPollRunning = false }
        do {
            var fetched: [JournaledReport]
            repeat {
                fetched = try await outbox.fetchReports(max: 500)
                await dispatch(fetched)
            } while fetched.count == 500 && !stopped
        } catch {
            logger.log(.warn, "fetching delivery reports failed: \(error)")
        }
    }

    private func dispatchUndispatchedReports() async {
        guard let outbox else { return }
        do {
            let waiting = try await outbox.undispatchedReports(limit: 10_000)
            if !waiting.isEmpty { logger.log(.info, "dispatching \(waiting.count) delivery report(s) fetched before a restart") }
            await dispatch(waiting)
        } catch {
            logger.log(.warn, "cannot read undispatched delivery reports: \(error)")
        }
    }

    /// Hands journaled reports to the matching `fms.on_report` handlers; a report is marked
    /// dispatched once every matching handler ran (or at once when none matches).
    private func dispatch(_ reports: [JournaledReport]) async {
        guard let outbox else { return }
        let handlers = generation?.registrations("on_report") ?? []
        var unmatched: [Int64] = []
        for entry in reports {
            metrics.noteReport(state: entry.report.state.name)
            let matching = handlers.filter { channel in
                guard case .onReport(let state, let mobile)? = channel.registration.spec else { return false }
                if let state, fnmatch(state, entry.report.state.name, 0) != 0 { return false }
                if let mobile, mobile != entry.report.mobile { return false }
                return true
            }
            guard !matching.isEmpty else {
                unmatched.append(entry.id)
                continue
            }
            metrics.noteEvent(.report, count: matching.count)
            let message = try? await entry.report.customFmsId.asyncMap { try await outbox.find($0) } ?? nil
            let table = EventTables.report(entry, message: message)
            let remaining = Mutex(matching.count)
            let logger = logger
            let done: @Sendable () async -> Void = {
                guard remaining.withLock({ $0 -= 1; return $0 == 0 }) else { return }
                do { try await outbox.markDispatched([entry.id]) } catch {
                    logger.log(.warn, "cannot mark report \(entry.report.fmsId) dispatched: \(error)")
                }
            }
            for channel in matching { channel.deliver([table], afterwards: done) }
        }
        if !unmatched.isEmpty {
            do { try await outbox.markDispatched(unmatched) } catch {
                logger.log(.warn, "cannot mark reports dispatched: \(error)")
            }
        }
    }

    private func dispatchFailure(_ message: StoredMessage) {
        guard let current = generation, !stopped else { return }
        let handlers = current.registrations("on_failure")
        logger.log(.warn, "message \(message.message.customId) to \(message.message.mobile) is a dead letter: "
                   + EventTables.failureText(message), message.message.rule.map { [("rule", $0)] } ?? [])
        guard !handlers.isEmpty else { return }
        metrics.noteEvent(.failure, count: handlers.count)
        for channel in handlers {
            channel.deliver([EventTables.message(message), .text(EventTables.failureText(message))])
        }
    }

    // MARK: Metrics

    private func renderMetrics() async -> String {
        var gauges: WatchMetrics.OutboxGauges?
        if let outbox, let counts = try? await outbox.counts() {
            gauges = WatchMetrics.OutboxGauges(pending: counts.pending, sent: counts.sent, dead: counts.dead)
            // Keep the file current while messages are on their way; idle again once none are pending.
            if counts.pending > 0 { metricsWriter?.changed(after: 2) }
        }
        return metrics.render(sends: tally.counts, outbox: gauges)
    }

    private func withDeadline(_ seconds: Double, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await work(); return true }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}

extension Optional {
    /// `map` with an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
