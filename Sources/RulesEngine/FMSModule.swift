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
                return .value(.number(seconds))
            },
            "now": { _ throws(LuaBindingError) in .value(.number(Date().timeIntervalSince1970)) },
            "truncate": { call throws(LuaBindingError) in
                let text = try call.string(1)
                let limit = try call.integer(2)
                guard limit >= 1 else { throw call.argumentError(2, "must be at least 1, got \(limit)") }
                return .value(.text(truncated(text, characters: Int(limit))))
            },
            "sleep": { call throws(LuaBindingError) in
                let seconds: Double
                switch try call.value(1) {
                case .integer(let number) where number >= 0: seconds = Double(number)
                case .number(let number) where number >= 0 && number.isFinite: seconds = number
                case .string(let text) where DurationText.seconds(text.text) != nil: seconds = DurationText.seconds(text.text) ?? 0
                case let other: throw call.argumentError(1, "seconds or a duration such as \"500ms\" expected, got \(other.typeName) \(other)")
                }
                // Checking rules must not wait; running them suspends only this coroutine.
                guard context.mode != .check else { return .none }
                return .suspend(LuaSuspension {
                    try? await Task.sleep(nanoseconds: UInt64(min(seconds, 86_400) * 1e9))
                    return .success([])
                })
            },
        ].merging(RegistrationBindings.functions(context), uniquingKeysWith: { first, _ in first }))
        state.defineClass(RegistrationBindings.handleClass, methods: [
            "stop": { call throws(LuaBindingError) in
                guard case .table(let handle) = try call.value(1), case .integer(let id) = handle["id"] else {
                    throw call.argumentError(1, "call it as handle:stop()")
                }
                context.registry.stop(Int(id))
                return .none
            },
        ])
        state.defineModule("fms.template", functions: [
            "report": { call throws(LuaBindingError) in try GatewayBindings.reportTemplate(call, context) },
            "query": { call throws(LuaBindingError) in try GatewayBindings.queryTemplate(call, context) },
        ])
        state.defineModule("fms.fs", functions: [
            "usage": { call throws(LuaBindingError) in try FileSystemBindings.usage(call) },
        ])
        state.defineModule("fms.log", functions: [
            "info": { call throws(LuaBindingError) in try log(call, level: "info", context) },
            "warn": { call throws(LuaBindingError) in try log(call, level: "warn", context) },
            "error": { call throws(LuaBindingError) in try log(call, level: "error", context) },
        ])
        state.setField("version", of: "fms", to: .text(version))
        state.setField("host", of: "fms", to: .text(hostName))
        // The chunk is a constant that compiles and runs in a few instructions: it cannot fail.
        _ = try? state.run(budgetGuard, chunkName: "=fms")
        _ = try? state.run(coroutineGuard, chunkName: "=fms")
        if context.mode == .check { _ = try? state.run(checkOutput, chunkName: "=fms") }
    }

    /// Lets gateway calls wait inside coroutines the script made itself. A binding's wait yields
    /// its coroutine; without this, that yield would return to the script's own
    /// `coroutine.resume` instead of the host, and the call would silently never happen. Here
    /// `resume` (and `wrap`) pass such a wait on to the host and hand the answer back; yields made
    /// with `coroutine.yield` return to the script as usual.
    static let coroutineGuard = """
        local create, resume, yield, status = coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
        local pack, unpack, error, type = table.pack, table.unpack, error, type
        local userYield = false
        coroutine.yield = function(...) userYield = true return yield(...) end
        local function resumed(co, r)
          while r[1] and not userYield and status(co) == "suspended" do r = pack(resume(co, yield())) end
          userYield = false
          return r
        end
        coroutine.resume = function(co, ...)
          if type(co) ~= "thread" then error("bad argument #1 to 'resume' (coroutine expected)", 2) end
          userYield = false
          local r = resumed(co, pack(resume(co, ...)))
          return unpack(r, 1, r.n)
        end
        coroutine.wrap = function(f)
          if type(f) ~= "function" then error("bad argument #1 to 'wrap' (function expected)", 2) end
          local co = create(f)
          return function(...)
            userYield = false
            local r = resumed(co, pack(resume(co, ...)))
            if r[1] then return unpack(r, 2, r.n) end
            if status(co) == "dead" then coroutine.close(co) end
            error(r[2], 2)
          end
        end
        """

    /// In check mode, `print` and `io.write` go to stderr: stdout is `fms check`'s report (JSON with `--json`).
    static let checkOutput = """
        local stderr, select, tostring, concat = io.stderr, select, tostring, table.concat
        io.output(stderr)
        _G.print = function(...)
          local parts = {}
          for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
          stderr:write(concat(parts, "\\t"), "\\n")
        end
        """

    /// Makes `pcall` and `xpcall` pass "instruction budget exceeded" on instead of catching it:
    /// otherwise a runaway loop inside `pcall` is stopped, caught, and entered again, forever.
    static let budgetGuard = """
        local pcall, xpcall, error, type = pcall, xpcall, error, type
        local suffix = "instruction budget exceeded"
        local function exceeded(e) return type(e) == "string" and e:sub(-#suffix) == suffix end
        local function pass(ok, ...)
          if not ok and exceeded((...)) then error((...), 0) end
          return ok, ...
        end
        _G.pcall = function(f, ...) return pass(pcall(f, ...)) end
        _G.xpcall = function(f, handler, ...)
          if type(handler) ~= "function" then
            error("bad argument #2 to 'xpcall' (function expected, got " .. type(handler) .. ")", 2)
          end
          local hit
          local function pass2(...) if hit then error(hit, 0) end return ... end
          return pass2(xpcall(f, function(e) if exceeded(e) then hit = e end return handler(e) end, ...))
        end
        """

    /// This machine's name (`gethostname`), for messages that say where something happened.
    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }()

    /// `text` with runs of white space made one space, cut to `characters` characters with "…"
    /// (template variables have length limits; characters, not bytes, as the carriers count).
    static func truncated(_ text: String, characters: Int) -> String {
        let squeezed = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        guard squeezed.count > characters else { return squeezed }
        return String(squeezed.prefix(max(characters - 1, 0))) + "…"
    }

    private static func log(_ call: LuaCall, level: String, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        var parts: [String] = []
        for index in 1...max(call.argumentCount, 1) where index <= call.argumentCount {
            switch try call.value(index) {
            case .table: parts.append("table")
            case let value: parts.append(value.stringValue ?? value.description)
            }
        }
        let position = LuaPosition.trimmed(call.callerPosition())
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
