import Foundation
import Synchronization

/// The watcher's counters, rendered in the Prometheus text exposition format.
public final class WatchMetrics: Sendable {
    /// Where events come from (the `source` label).
    public enum Source: String, Sendable, CaseIterable {
        case watch, tail, every, cron, balance, report, failure
    }

    /// Outbox counts, read when the file is written.
    public struct OutboxGauges: Sendable, Equatable {
        public var pending = 0
        public var sent = 0
        public var dead = 0
        public init(pending: Int = 0, sent: Int = 0, dead: Int = 0) {
            self.pending = pending
            self.sent = sent
            self.dead = dead
        }
    }

    private struct State {
        var events: [Source: Int] = [:]
        var handlerRuns: [String: Int] = [:]
        var handlerErrors: [String: Int] = [:]
        var reports: [String: Int] = [:]
        var balance: Int64?
        var rulesLoaded = 0
        var reloadsOK = 0
        var reloadsFailed = 0
        var changes = 0
        var running = true
    }

    private let state = Mutex(State())
    private let changeObserver = Mutex<(@Sendable () -> Void)?>(nil)

    /// Empty counters.
    public init() {}

    /// Calls `observer` after every change (the metrics file writer).
    func observeChanges(_ observer: @escaping @Sendable () -> Void) { changeObserver.withLock { $0 = observer } }

    private func change(_ body: (inout State) -> Void) {
        state.withLock { body(&$0); $0.changes += 1 }
        changeObserver.withLock { $0 }?()
    }

    func noteEvent(_ source: Source, count: Int = 1) { change { $0.events[source, default: 0] += count } }
    func noteHandlerRun(rule: String, failed: Bool) {
        change { state in
            state.handlerRuns[rule, default: 0] += 1
            if failed { state.handlerErrors[rule, default: 0] += 1 }
        }
    }
    func noteReport(state reportState: String) { change { $0.reports[reportState, default: 0] += 1 } }
    func noteBalance(_ balance: Int64) { change { $0.balance = balance } }
    func noteRulesLoaded(_ count: Int) { change { $0.rulesLoaded = count } }
    /// The outbox recorded a send result: its gauges moved.
    func noteOutboxChange() { change { _ in } }
    func noteStopped() { state.withLock { $0.running = false } }
    func noteReload(ok: Bool) { change { if ok { $0.reloadsOK += 1 } else { $0.reloadsFailed += 1 } } }

    /// Events by source.
    public var events: [Source: Int] { state.withLock { $0.events } }
    /// Handler runs, all rules together.
    public var handlerRuns: Int { state.withLock { $0.handlerRuns.values.reduce(0, +) } }
    /// Handler errors, all rules together.
    public var handlerErrors: Int { state.withLock { $0.handlerErrors.values.reduce(0, +) } }

    /// The exposition text.
    public func render(sends: SendTally.Counts, outbox: OutboxGauges?) -> String {
        let state = state.withLock { $0 }
        var text = ""
        func family(_ name: String, _ type: String, _ help: String) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("fms_up", "gauge", "1 while the watcher runs; 0 once it stopped (the file is left behind).")
        text += "fms_up \(state.running ? 1 : 0)\n"
        family("fms_events_total", "counter", "Events delivered to rule handlers, by source.")
        for source in Source.allCases { text += "fms_events_total{source=\"\(source.rawValue)\"} \(state.events[source] ?? 0)\n" }
        family("fms_handler_runs_total", "counter", "Rule handler runs, by rule file.")
        for (rule, count) in state.handlerRuns.sorted(by: { $0.key < $1.key }) {
            text += "fms_handler_runs_total{rule=\"\(Self.escape(rule))\"} \(count)\n"
        }
        family("fms_handler_errors_total", "counter", "Rule handler runs that failed (error, endless loop, memory), by rule file.")
        for rule in state.handlerRuns.keys.sorted() {
            text += "fms_handler_errors_total{rule=\"\(Self.escape(rule))\"} \(state.handlerErrors[rule] ?? 0)\n"
        }
        family("fms_sends_total", "counter", "fms.send and fms.batch messages, by outcome.")
        text += "fms_sends_total{outcome=\"queued\"} \(sends.queued)\n"
        text += "fms_sends_total{outcome=\"suppressed\"} \(sends.suppressed)\n"
        text += "fms_sends_total{outcome=\"deferred\"} \(sends.deferred)\n"
        text += "fms_sends_total{outcome=\"dry_run\"} \(sends.dryRun)\n"
        if let outbox {
            family("fms_outbox_messages", "gauge", "Messages in the outbox, by state.")
            text += "fms_outbox_messages{state=\"pending\"} \(outbox.pending)\n"
            text += "fms_outbox_messages{state=\"sent\"} \(outbox.sent)\n"
            text += "fms_outbox_messages{state=\"dead\"} \(outbox.dead)\n"
        }
        family("fms_reports_total", "counter", "Delivery reports fetched, by state.")
        for (reportState, count) in state.reports.sorted(by: { $0.key < $1.key }) {
            text += "fms_reports_total{state=\"\(Self.escape(reportState))\"} \(count)\n"
        }
        if let balance = state.balance {
            family("fms_balance", "gauge", "The account balance at the last poll.")
            text += "fms_balance \(balance)\n"
        }
        family("fms_rules_loaded", "gauge", "Rule files loaded in the running rule set.")
        text += "fms_rules_loaded \(state.rulesLoaded)\n"
        family("fms_reloads_total", "counter", "Rule reloads, by result.")
        text += "fms_reloads_total{result=\"ok\"} \(state.reloadsOK)\n"
        text += "fms_reloads_total{result=\"failed\"} \(state.reloadsFailed)\n"
        return text
    }

    /// A label value with `\`, `"` and newlines escaped.
    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}

/// Writes the metrics to a file atomically (a temporary file renamed over it), at most once a
/// second and only after something changed.
final class MetricsFileWriter: Sendable {
    let path: String
    private let render: @Sendable () async -> String
    private let pending = Mutex<(scheduled: Bool, task: Task<Void, Never>?)>((false, nil))
    private let report: @Sendable (String) -> Void
    private let writes = Mutex(0)

    init(path: String, render: @escaping @Sendable () async -> String, report: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.render = render
        self.report = report
    }

    /// Schedules a write within a second.
    func changed(after delay: Double = 1) {
        pending.withLock { pending in
            guard !pending.scheduled else { return }
            pending.scheduled = true
            pending.task = Task {
                try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                self.pending.withLock { $0.scheduled = false }
                await self.writeNow()
            }
        }
    }

    /// Writes the file now.
    func writeNow() async {
        let text = await render()
        // A name of its own per write: a scheduled write and a final one may overlap.
        let number = writes.withLock { $0 += 1; return $0 }
        let temporary = path + ".\(getpid()).\(number).tmp"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            report("cannot write the metrics file \(path): \(error.localizedDescription)")
        }
    }

    /// Cancels a scheduled write.
    func cancel() { pending.withLock { $0.task?.cancel() } }
}
