import Foundation
import LuaKit
import Outbox
import Synchronization

/// Delivery reports for `fms.on_report`, dead letters for `fms.on_failure`, and the metrics file.
extension Watcher {
    func scheduleReportPolls() async {
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

    func dispatchUndispatchedReports() async {
        guard let outbox else { return }
        do {
            let waiting = try await outbox.undispatchedReports(limit: 10_000)
            if !waiting.isEmpty { logger.log(.info, "dispatching \(waiting.count) delivery report(s) fetched before a restart") }
            await dispatch(waiting)
        } catch {
            logger.log(.warn, "cannot read undispatched delivery reports: \(error)")
        }
    }

    /// Counts down the handler runs an item waits for, then marks it (once).
    final class Countdown: Sendable {
        private let remaining: Mutex<Int>
        private let done: @Sendable () async -> Void

        init(_ count: Int, done: @escaping @Sendable () async -> Void) {
            remaining = Mutex(count)
            self.done = done
        }

        /// One handler ran (or will never run).
        func tick() async {
            guard remaining.withLock({ $0 -= 1; return $0 == 0 }) else { return }
            await done()
        }
    }

    /// Hands journaled reports to the matching `fms.on_report` handlers; a report is marked
    /// dispatched once every matching handler ran (or at once when none matches).
    private func dispatch(_ reports: [JournaledReport]) async {
        guard let outbox else { return }
        var unmatched: [Int64] = []
        let logger = logger
        for entry in reports {
            metrics.noteReport(state: entry.report.state.name)
            let message: StoredMessage?
            if let custom = entry.report.customFmsId { message = try? await outbox.find(custom) } else { message = nil }
            // The handlers of the rule set running now (it may have been reloaded during the lookup).
            let matching = (generation?.registrations("on_report") ?? []).filter { channel in
                guard case .onReport(let state, let mobile)? = channel.registration.spec else { return false }
                if let state, fnmatch(state, entry.report.state.name, 0) != 0 { return false }
                if let mobile, mobile != entry.report.mobile { return false }
                return true
            }
            guard !matching.isEmpty else {
                unmatched.append(entry.id)
                continue
            }
            let table = EventTables.report(entry, message: message)
            let countdown = Countdown(matching.count) {
                do { try await outbox.markDispatched([entry.id]) } catch {
                    logger.log(.warn, "cannot mark report \(entry.report.fmsId) dispatched: \(error)")
                }
            }
            for channel in matching {
                if channel.deliver([table], afterwards: { await countdown.tick() }) {
                    metrics.noteEvent(.report)
                } else {
                    // Stopped in the meantime: that handler will not run.
                    await countdown.tick()
                }
            }
        }
        if !unmatched.isEmpty {
            do { try await outbox.markDispatched(unmatched) } catch {
                logger.log(.warn, "cannot mark reports dispatched: \(error)")
            }
        }
    }

    func dispatchUndispatchedFailures() async {
        guard let outbox else { return }
        do {
            let waiting = try await outbox.undispatchedFailures(limit: 10_000)
            if !waiting.isEmpty { logger.log(.info, "\(waiting.count) dead letter(s) not yet seen by on_failure handlers") }
            await dispatchFailures(waiting, live: false)
        } catch {
            logger.log(.warn, "cannot read the dead letters on_failure handlers have not seen: \(error)")
        }
    }

    /// Hands dead letters to the `fms.on_failure` handlers; each is marked seen once every
    /// handler ran (or at once when there is none). `live`: it just died (and is logged).
    func dispatchFailures(_ messages: [StoredMessage], live: Bool) async {
        guard let outbox else { return }
        let logger = logger
        var unmatched: [Int64] = []
        for message in messages {
            if live {
                logger.log(.warn, "message \(message.message.customId) to \(message.message.mobile) is a dead letter: "
                           + EventTables.failureText(message), message.message.rule.map { [("rule", $0)] } ?? [])
            }
            let handlers = stopped ? [] : (generation?.registrations("on_failure") ?? [])
            guard !handlers.isEmpty else {
                if !stopped { unmatched.append(message.id) }
                continue
            }
            let countdown = Countdown(handlers.count) {
                do { try await outbox.markFailuresDispatched([message.id]) } catch {
                    logger.log(.warn, "cannot mark dead letter \(message.message.customId) seen: \(error)")
                }
            }
            for channel in handlers {
                if channel.deliver([EventTables.message(message), .text(EventTables.failureText(message))],
                                   afterwards: { await countdown.tick() }) {
                    metrics.noteEvent(.failure)
                } else {
                    await countdown.tick()
                }
            }
        }
        if !unmatched.isEmpty {
            do { try await outbox.markFailuresDispatched(unmatched) } catch {
                logger.log(.warn, "cannot mark dead letters seen: \(error)")
            }
        }
    }

    // MARK: Metrics

    func startMetricsFile() {
        guard let path = options.metricsFile else { return }
        let writer = MetricsFileWriter(path: path, render: { [weak self] in await self?.renderMetrics() ?? "" },
                                       report: { [logger] message in logger.log(.warn, message) })
        metricsWriter = writer
        metrics.observeChanges { writer.changed() }
    }

    private func renderMetrics() async -> String {
        var gauges: WatchMetrics.OutboxGauges?
        if let outbox, let counts = try? await outbox.counts() {
            gauges = WatchMetrics.OutboxGauges(pending: counts.pending, sent: counts.sent, dead: counts.dead)
        }
        return metrics.render(sends: tally.counts, outbox: gauges)
    }
}
