import Foundation
import FMSClient
import LuaKit
import Outbox
import Synchronization

/// `fms.every`, `fms.cron`, `fms.balance_below`, and the cooldown windows' summaries and persistence.
extension Watcher {
    /// One pending run of a timer handler: firings that come while it waits are folded into it
    /// (counted in `skipped`), so a handler slower than its period runs once, not a queue of them.
    final class TimerFolding: Sendable {
        private let pending = Mutex<(queued: Bool, skipped: Int)>((false, 0))

        /// Queues a run for `firing`, or folds it into the one waiting.
        func fire(_ firing: TimerScheduler.Firing, into channel: HandlerChannel) -> Bool {
            let queue = pending.withLock { pending -> Bool in
                if pending.queued {
                    pending.skipped += 1 + firing.skipped
                    return false
                }
                pending = (true, firing.skipped)
                return true
            }
            guard queue else { return true }
            return channel.deliver(lazy: { [self] in
                let skipped = pending.withLock { pending -> Int in
                    defer { pending = (false, 0) }
                    return pending.skipped
                }
                return [EventTables.firing(TimerScheduler.Firing(skipped: skipped, time: Date().timeIntervalSince1970))]
            })
        }
    }

    func startTimers(_ current: Generation) async {
        let zone = current.rules.context.configuration.timezone.flatMap(TimeZone.init(identifier:)) ?? TimeZone.current
        for channel in current.registrations("every") + current.registrations("cron") + current.registrations("balance_below") {
            let registration = channel.registration
            let metrics = metrics
            var tokens: [Int] = []
            switch registration.spec {
            case .every(let timer)?:
                let folding = TimerFolding()
                tokens.append(await scheduler.addEvery(timer) { firing in
                    if folding.fire(firing, into: channel) { metrics.noteEvent(.every) }
                })
            case .cron(let expression)?:
                let timer = CronTimer(expression, timeZone: zone)
                guard let due = timer.firstDue(startingAt: Date()) else {
                    logger.log(.warn, "cron '\(registration.summary)' never fires", [("position", registration.position)])
                    continue
                }
                let folding = TimerFolding()
                tokens.append(await scheduler.add(.cron(timer, due: due)) { firing in
                    if folding.fire(firing, into: channel) { metrics.noteEvent(.cron) }
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
        // One check at a time per registration: a slow gateway must not have two first reads both alert.
        guard current.balanceChecks.withLock({ $0.insert(id).inserted }) else { return }
        defer { _ = current.balanceChecks.withLock { $0.remove(id) } }
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
        if fire, channel.deliver([.integer(balance), .integer(threshold)]) {
            metrics.noteEvent(.balance)
        }
    }

    // MARK: Cooldowns

    /// The rule-state name under which open cooldown windows are kept across restarts.
    static let cooldownStateRule = "fms:cooldown"

    func cooldownOpened(_ window: FMSModuleContext.CooldownWindow) async {
        guard !stopped else { return }
        if let outbox, !options.dryRun {
            do {
                try await outbox.setRuleState(rule: Self.cooldownStateRule, key: window.key, value: String(window.end))
                // Windows closed meanwhile go: with a key per event the table would otherwise only grow.
                try await outbox.deleteRuleStates(rule: Self.cooldownStateRule, numericValueBelow: wallClock())
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
    func restoreCooldowns() async {
        guard let outbox, !options.dryRun else { return }
        do {
            let saved = try await outbox.ruleStates(rule: Self.cooldownStateRule)
            let now = wallClock()
            var windows: [String: Double] = [:]
            for (key, value) in saved {
                if let end = Double(value), end > now { windows[key] = end }
            }
            cooldowns.restore(windows, now: now)
            try await outbox.deleteRuleStates(rule: Self.cooldownStateRule, numericValueBelow: now)
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
}
