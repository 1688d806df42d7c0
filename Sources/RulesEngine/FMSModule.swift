import FMSClient
import Foundation
import FMSProtocol
import LuaKit

/// Installs the `fms` Lua module (also `package.loaded.fms`) into a state.
///
/// Every function checks its arguments before doing anything, and its errors blame the
/// caller's line. Functions that wait for the gateway (`send`, `batch`, `reports`,
/// `balance`, `template.*`) suspend only the calling coroutine.
public enum FMSModule {
    /// The module's version string, `fms.version`.
    public static let version = "0.1.0"

    /// Adds `fms`, `fms.template` and `fms.log` to `state`.
    public static func install(into state: LuaState, context: FMSModuleContext) {
        state.defineModule("fms", functions: [
            "send": { call throws(LuaBindingError) in try SendBindings.send(call, context) },
            "batch": { call throws(LuaBindingError) in try SendBindings.batch(call, context) },
            "reports": { call throws(LuaBindingError) in try GatewayBindings.reports(call, context) },
            "balance": { call throws(LuaBindingError) in try GatewayBindings.balance(call, context) },
            "config": { call throws(LuaBindingError) in try ConfigBinding.configure(call, context) },
            "duration": { call throws(LuaBindingError) in
                let text = try call.string(1)
                guard let seconds = DurationText.seconds(text) else {
                    throw call.argumentError(1, "'\(text)' is not a duration such as \"30s\", \"5m\" or \"1h\"")
                }
                return .values([.number(seconds)])
            },
        ].merging(RegistrationBindings.functions(context), uniquingKeysWith: { first, _ in first }))
        state.defineClass(RegistrationBindings.handleClass, methods: [
            "stop": { call throws(LuaBindingError) in
                guard call.typeName(1) == "table" else { throw call.argumentError(1, "call it as handle:stop()") }
                return .none
            },
        ])
        state.defineModule("fms.template", functions: [
            "report": { call throws(LuaBindingError) in try GatewayBindings.reportTemplate(call, context) },
            "query": { call throws(LuaBindingError) in try GatewayBindings.queryTemplate(call, context) },
        ])
        state.defineModule("fms.log", functions: [
            "info": { call throws(LuaBindingError) in try log(call, level: "info", context) },
            "warn": { call throws(LuaBindingError) in try log(call, level: "warn", context) },
            "error": { call throws(LuaBindingError) in try log(call, level: "error", context) },
        ])
        state.setField("version", of: "fms", to: .text(version))
    }

    private static func log(_ call: LuaCall, level: String, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        var parts: [String] = []
        for index in 1...max(call.argumentCount, 1) where index <= call.argumentCount {
            switch try call.value(index) {
            case .table: parts.append("table")
            case let value: parts.append(value.stringValue ?? value.description)
            }
        }
        let position = call.callerPosition().trimmingCharacters(in: [" ", ":"])
        context.log(LuaLogLine(level: level, message: parts.joined(separator: "\t"), position: position))
        return .none
    }

    /// A Lua table for an accepted message: `{ mobile = …, fmsId = …, customFmsId = … }`.
    static func table(_ message: SentMessage) -> LuaValue {
        var fields: [String: LuaValue] = ["mobile": .text(message.mobile), "fmsId": .text(message.fmsId)]
        if let custom = message.customFmsId { fields["customFmsId"] = .text(custom) }
        return .table(LuaTable(fields))
    }

    /// Runs a backend call for a binding: counts failures and turns them into Lua errors.
    static func suspend(_ name: String, _ context: FMSModuleContext,
                        _ work: @escaping @Sendable () async throws(FMSClientError) -> [LuaValue]) -> LuaCallResult {
        .suspend(LuaSuspension {
            // Assign, then return: returning from inside `do throws(E)` in a closure is
            // miscompiled by Swift 6.3.1 -O (see FMSClient.sendBatch).
            let outcome: Result<[LuaValue], LuaBindingError>
            do throws(FMSClientError) {
                outcome = .success(try await work())
            } catch {
                context.tally.noteFailure(error)
                outcome = .failure(LuaBindingError("\(name): \(error)"))
            }
            return outcome
        })
    }
}
