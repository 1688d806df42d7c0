import FMSClient
import FMSProtocol
import LuaKit
import Outbox

/// The durable paths of `fms.send`, `fms.batch` and `fms.reports`, through the outbox.
public enum OutboxBindings {
    /// Longest `fms.send{ wait = true }` waits for the gateway before giving up (the message stays queued).
    static let longestWait = 300.0

    /// Enqueues messages (durable on return); with `wait`, suspends until the single message is sent or dead.
    static func enqueue(_ messages: [NewMessage], outbox handle: OutboxHandle, wait: Bool, single: Bool,
                        context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        let name = single ? "fms.send" : "fms.batch"
        if let reused = context.noteQueued(messages.map(\.customId)) {
            throw LuaBindingError("\(name): id '\(reused)' was already used for another message in this run; "
                                  + "a customFmsId names one message")
        }
        let outbox: Outbox
        do {
            outbox = try handle.get()
            try outbox.enqueue(messages)
            context.tally.noteQueued(messages.count, deferred: messages.filter { $0.notBefore != nil }.count)
        } catch {
            context.forgetQueued(messages.map(\.customId))
            throw LuaBindingError("\(name): the outbox refused the message: \(error)")
        }
        let tables = messages.map { message in
            var fields: [String: LuaValue] = ["customFmsId": .text(message.customId), "mobile": .text(message.mobile),
                                              "queued": .boolean(true)]
            // Held back by the rate limit or quiet hours: when it may go (a `wait` returns at once then).
            if let notBefore = message.notBefore { fields["notBefore"] = .number(notBefore) }
            return LuaValue.table(LuaTable(fields))
        }
        guard wait, let message = messages.first else {
            return .values(single ? [tables[0]] : [.table(LuaTable(sequence: tables))])
        }
        return .suspend(LuaSuspension {
            let outcome: Result<[LuaValue], LuaBindingError>
            do throws(OutboxError) {
                let states = try await outbox.wait(for: [message.customId], timeout: longestWait)
                let stored = try await outbox.find(message.customId)
                switch states[message.customId] {
                case .sent?:
                    context.tally.noteAccepted(1)
                    outcome = .success([.table(LuaTable(["customFmsId": .text(message.customId), "mobile": .text(message.mobile),
                                                         "fmsId": .text(stored?.fmsId ?? "")]))])
                case .dead?:
                    let error = failure(of: stored)
                    context.tally.noteFailure(error)
                    outcome = .failure(LuaBindingError("fms.send: \(stored?.lastError ?? "the message could not be sent")"))
                default:
                    outcome = .failure(LuaBindingError("fms.send: still not sent after \(Int(longestWait))s; it stays queued "
                                                       + "as \(message.customId)"))
                }
            } catch {
                outcome = .failure(LuaBindingError("fms.send: the outbox failed: \(error)"))
            }
            return outcome
        })
    }

    /// The client error a dead letter stands for (its vendor code when it has one).
    public static func failure(of message: StoredMessage?) -> FMSClientError {
        if let code = message?.lastCode { return .gateway(endpoint: .sendBatch, code: ResultCode(code)) }
        return .transport(endpoint: .sendBatch, message: message?.lastError ?? "the message could not be sent", timedOut: false)
    }

    /// `fms.reports` with a journal: stored before being returned, then marked handled.
    static func reports(max: Int, outbox handle: OutboxHandle, context: FMSModuleContext) -> LuaCallResult {
        .suspend(LuaSuspension {
            let outcome: Result<[LuaValue], LuaBindingError>
            do {
                let outbox = try handle.get()
                guard await outbox.canSend else {
                    // No gateway settings: surface the backend's configuration error (exit 78).
                    _ = try await context.backend.fetchReports(max: 1)
                    throw OutboxError(.invalid, "no gateway configured")
                }
                let journaled = try await outbox.fetchReports(max: max)
                try await outbox.markDispatched(journaled.map(\.id))
                outcome = .success([.table(LuaTable(sequence: journaled.map { entry in
                    var table = GatewayBindings.table(entry.report)
                    if case .table(var fields) = table {
                        if let rule = entry.rule { fields.fields[.text("rule")] = .text(rule) }
                        if let key = entry.key { fields.fields[.text("key")] = .text(key) }
                        table = .table(fields)
                    }
                    return table
                }))])
            } catch let error as FMSClientError {
                context.tally.noteFailure(error)
                outcome = .failure(LuaBindingError("fms.reports: \(error)"))
            } catch {
                outcome = .failure(LuaBindingError("fms.reports: \(error)"))
            }
            return outcome
        })
    }
}
