import Foundation
import FMSProtocol

/// The "Outbox" part of `fms-bench report`, from the `outbox.*` lines of `fms-bench outbox`.
///
/// Enqueue ratios are times per message: ours / the limit's (lower is better). Drain ratios are
/// rates: ours / the peer's (higher is better). Every figure comes from the same run.
struct OutboxSection {
    var enqueueRows: [Row] = []
    var drainRows: [Row] = []
    var goals: [(String, String, Bool?)] = []
    var notes: [String] = []

    var isEmpty: Bool { enqueueRows.isEmpty && drainRows.isEmpty }
}

/// A rate with its time per message: "267,427/s (3.7 µs)".
func rateText(_ seconds: Double?) -> String {
    guard let seconds, seconds > 0, seconds.isFinite else { return "n/a" }
    return "\(fmt(1 / seconds))/s (\(micro(seconds)))"
}

extension Results {
    func outboxSection() -> OutboxSection {
        var section = OutboxSection()
        func line(_ bench: String, _ name: String) -> JSONValue? { first(bench, name: name) }
        func seconds(_ bench: String, _ name: String) -> Double? { line(bench, name)?.double("seconds") }

        // MARK: Enqueue
        let limit = seconds("outbox.limit", "sqlite.transaction")
        let limitMessages = line("outbox.limit", "sqlite.transaction")?.double("messages").map { fmt($0) } ?? "?"
        let limitLabel = "SQLite limit \(rateText(limit))"
        let lua = line("outbox.enqueue", "lua")
        let swift = line("outbox.enqueue", "swift")
        if let lua {
            let perSecond = lua.double("perSecond")
            let segments = Int(lua.double("segments") ?? 10)
            let perSegment = Int((lua.double("messages") ?? 0) / Double(max(segments, 1)))
            let first = lua.double("firstSegmentPerSecond")
            let last = lua.double("lastSegmentPerSecond")
            section.enqueueRows.append(Row(
                label: "`fms.send{…}` in a Lua loop: \(fmt(lua.double("messages") ?? 0)) sends in one LuaRuntime and one FMSModuleContext "
                    + "(as one `fms run`), limits of `fms run`, `OutboxHandle`; best of \(lua.text("rounds"))",
                value: rateText(lua.double("seconds")), peer: limitLabel, ratio: timesRatio(lua.double("seconds"), limit)))
            if let first, let last {
                section.enqueueRows.append(Row(label: "  the same run's first and last \(fmt(Double(perSegment))) sends",
                                               value: "\(fmt(first))/s first, \(fmt(last))/s last", peer: "-",
                                               ratio: String(format: "last %.2f× the time per send of first", first / last)))
                if last < first / 2 {
                    section.notes.append("**`fms.send` slows down as a run goes on**: in one `FMSModuleContext` the first \(fmt(Double(perSegment))) "
                                         + "sends ran at \(fmt(first))/s and the last \(fmt(Double(perSegment))) at \(fmt(last))/s, "
                                         + "\(fmt(perSecond ?? 0))/s over all \(fmt(lua.double("messages") ?? 0)): the cost per send grows with the "
                                         + "number of ids already queued (in this build `FMSModuleContext.noteQueued` makes a `Set` of every id "
                                         + "queued so far on each send, so a run of n sends costs O(n²)). The fresh-context row shows the same "
                                         + "binding with the list kept short.")
                }
            }
        }
        if let fresh = line("outbox.enqueue", "lua.fresh-context") {
            section.enqueueRows.append(Row(
                label: "  diagnostic: the same `fms.send` loop with a fresh FMSModuleContext every \(fresh.text("sendsPerContext")) sends",
                value: rateText(fresh.double("seconds")), peer: limitLabel, ratio: timesRatio(fresh.double("seconds"), limit)))
        }
        if let noop = line("outbox.enqueue", "lua.noop") {
            section.enqueueRows.append(Row(
                label: "  for scale: the same Lua loop (vars table built) calling a no-op Swift binding instead",
                value: rateText(noop.double("seconds")), peer: limitLabel, ratio: timesRatio(noop.double("seconds"), limit)))
        }
        if let swift {
            section.enqueueRows.append(Row(
                label: "`Outbox.enqueue(NewMessage)` from Swift, one message per call (fresh customFmsId each), best of \(swift.text("rounds"))",
                value: rateText(swift.double("seconds")), peer: limitLabel, ratio: timesRatio(swift.double("seconds"), limit)))
        }
        if let limit {
            section.enqueueRows.append(Row(
                label: "**Limit**: `BareInsertBenchmark`, \(limitMessages) rows, the outbox's table and INSERT, WAL, synchronous=NORMAL, "
                    + "one prepared statement, one transaction",
                value: rateText(limit), peer: "-", ratio: "1.00×"))
        }
        if let eachRow = line("outbox.limit", "sqlite.each-row") {
            section.enqueueRows.append(Row(
                label: "Reference: the same insert with one commit per row (\(fmt(eachRow.double("messages") ?? 0)) rows)",
                value: rateText(eachRow.double("seconds")), peer: limitLabel, ratio: timesRatio(eachRow.double("seconds"), limit)))
        }
        if let write = line("outbox.limit", "write") {
            section.enqueueRows.append(Row(
                label: "Reference: one `write(2)` per intake-log record (\(write.text("recordBytes")) bytes), nothing else",
                value: rateText(write.double("seconds")), peer: limitLabel, ratio: timesRatio(write.double("seconds"), limit)))
        }
        if let full = line("outbox.enqueue", "swift.full") {
            let syncWrite = seconds("outbox.limit", "write.fdatasync")
            section.enqueueRows.append(Row(
                label: "Durability full: `Outbox.enqueue` with `fdatasync` per message (\(fmt(full.double("messages") ?? 0)) messages; informative)",
                value: rateText(full.double("seconds")), peer: "write + fdatasync \(rateText(syncWrite))",
                ratio: timesRatio(full.double("seconds"), syncWrite)))
            if let sqliteFull = seconds("outbox.limit", "sqlite.each-row.full") {
                section.enqueueRows.append(Row(
                    label: "  SQLite, one commit per row, synchronous=FULL, on the same messages",
                    value: rateText(sqliteFull), peer: "write + fdatasync \(rateText(syncWrite))", ratio: timesRatio(sqliteFull, syncWrite)))
            }
        }
        func enqueueGoal(_ name: String, _ line: JSONValue?) {
            guard let line else { return }
            let ours = line.double("seconds")
            let rate = ours.map { 1 / $0 }
            let times = ours.flatMap { o in limit.map { o / $0 } }
            let met = rate.flatMap { r in times.map { r >= 50_000 && $0 <= 3 } }
            section.goals.append(("\(name) ≥ 50,000/s, ≤ 3× the bare insert",
                                  "\(rate.map { fmt($0) } ?? "n/a")/s \(times.map { String(format: "%.2f×", $0) } ?? "n/a")", met))
        }
        enqueueGoal("fms.send in Lua", lua)
        enqueueGoal("Outbox.enqueue", swift)

        // MARK: Drain
        let drains = all("outbox.drain")
        let peers = all("outbox.drain.peer")
        let absorbs = all("outbox.absorb")
        var bestDrain: JSONValue?
        for drain in drains {
            let level = drain.text("maxInFlight")
            let messages = drain.double("messages") ?? 0
            let peer = peers.first { $0.text("concurrency") == level }
            if let absorb = absorbs.first(where: { $0.text("maxInFlight") == level }) {
                let ours = absorb.double("seconds").map { $0 / max(messages, 1) }
                let bare = absorb.double("bareSeconds").map { $0 / max(messages, 1) }
                section.drainRows.append(Row(
                    label: "Absorb: \(fmt(messages)) enqueued messages moved from the intake into SQLite (the first `Outbox.counts()`), "
                        + "before the drain at maxInFlight \(level)",
                    value: rateText(ours), peer: "\(limitLabelFor(bare)) on the same \(fmt(messages))",
                    ratio: timesRatio(ours, bare)))
            }
            let sent = drain.double("sent") ?? 0
            let accepted = drain.double("gatewayAccepted")
            let cpu = cpuText(drain, messages: sent)
            section.drainRows.append(Row(
                label: "**Drain** at maxInFlight \(level): `Outbox.drain` of \(fmt(messages)) pending messages to the simulator "
                    + "(sent \(fmt(sent)), dead \(drain.text("dead")), pending \(drain.text("pending")); "
                    + "simulator accepted \(accepted.map { fmt($0) } ?? "n/a"))",
                value: "\(fmt(drain.double("perSecond") ?? 0)) msg/s\(cpu)",
                peer: peer.map { "sendBatch \(fmt($0.double("perSecond") ?? 0)) msg/s" } ?? "n/a",
                ratio: rates(drain.double("perSecond"), peer?.double("perSecond"))))
            section.drainRows.append(Row(
                label: "  the same counting the absorb (enqueue → all sent)",
                value: "\(fmt(drain.double("withAbsorbPerSecond") ?? 0)) msg/s",
                peer: peer.map { "sendBatch \(fmt($0.double("perSecond") ?? 0)) msg/s" } ?? "n/a",
                ratio: rates(drain.double("withAbsorbPerSecond"), peer?.double("perSecond"))))
            if let peer {
                section.drainRows.append(Row(
                    label: "  peer: `FMSClient.sendBatch` of \(fmt(peer.double("messages") ?? 0)) messages, 300 per request, \(level) in flight, "
                        + "the same client (simulator accepted \(peer.double("gatewayAccepted").map { fmt($0) } ?? "n/a"))",
                    value: "\(fmt(peer.double("perSecond") ?? 0)) msg/s\(cpuText(peer, messages: peer.double("messages") ?? 0))",
                    peer: "-", ratio: "1.00× the rate"))
            }
            if let accepted, accepted != sent || sent != messages {
                section.notes.append("**Mismatch at maxInFlight \(level)**: \(fmt(messages)) messages enqueued, the outbox counted \(fmt(sent)) sent, "
                                     + "the simulator accepted \(fmt(accepted)).")
            }
            if (drain.double("perSecond") ?? 0) > (bestDrain?.double("perSecond") ?? -1) { bestDrain = drain }
        }
        if let popped = drains.first?.double("reportsPoppedBefore"), popped > 0 {
            section.notes.append("Before each drain and each peer run the benchmark pops every delivery report the simulator has queued "
                                 + "(\(fmt(popped)) before the first drain, left by the client benchmarks): the simulator's cost per "
                                 + "accepted message grows with that queue, which would slow each measurement down more than the one before.")
        }
        if let bestDrain {
            let rate = bestDrain.double("perSecond") ?? 0
            section.goals.append(("Outbox drain ≥ 50,000 msg/s (best maxInFlight: \(bestDrain.text("maxInFlight")))",
                                  "\(fmt(rate)) msg/s", rate >= 50_000))
            let lost = drains.contains { d in
                let accepted = d.double("gatewayAccepted")
                return accepted == nil || accepted != d.double("messages") || d.double("sent") != d.double("messages")
            }
            section.goals.append(("Outbox drain: the simulator accepted every message", lost ? "mismatch" : "\(drains.count) of \(drains.count) drains",
                                  !lost))
        }
        return section
    }

    /// Our rate over the peer's: "0.14× the rate".
    private func rates(_ ours: Double?, _ peer: Double?) -> String {
        guard let ours, let peer, ours > 0, peer > 0 else { return "n/a" }
        return String(format: "%.2f× the rate", ours / peer)
    }

    /// "SQLite limit 150,000/s (6.7 µs)".
    private func limitLabelFor(_ seconds: Double?) -> String { "SQLite limit \(rateText(seconds))" }

    /// "; CPU per message: client 38 µs + sim 4 µs" from a line with clientCPU and simCPU.
    private func cpuText(_ line: JSONValue, messages: Double) -> String {
        guard messages > 0, let client = line.double("clientCPU") else { return "" }
        var text = String(format: "; CPU per message: client %.1f µs", client / messages * 1e6)
        if let sim = line.double("simCPU") { text += String(format: " + sim %.1f µs", sim / messages * 1e6) }
        return text
    }
}
