import Synchronization
import Testing
@testable import LuaKit

/// Handlers in coroutines, suspended by bindings that wait.
@Suite("LuaRuntime coroutines")
struct LuaCoroutineTests {
    /// A runtime with `host.wait(tag)` (suspends until the test opens a gate), `host.log(x)`
    /// and `host.fail_later(msg)` (suspends, then fails).
    static func runtime(log: Log, gate: Gate) async throws -> LuaRuntime {
        let runtime = try LuaRuntime(instructionBudget: 1_000_000)
        await runtime.withState { state in
            state.defineModule("host", functions: [
                "wait": { call throws(LuaBindingError) in
                    let tag = try call.string(1)
                    return .suspend(LuaSuspension {
                        await gate.wait()
                        return .success([.text("woke " + tag)])
                    })
                },
                "log": { call throws(LuaBindingError) in
                    log.append(try call.string(1))
                    return .none
                },
                "fail_later": { call throws(LuaBindingError) in
                    let message = try call.string(1)
                    return .suspend(LuaSuspension { .failure(LuaBindingError(message)) })
                },
            ])
        }
        return runtime
    }

    @Test("several suspended coroutines make progress together")
    func concurrentSuspension() async throws {
        let log = Log()
        let gate = Gate(parties: 3)
        let runtime = try await Self.runtime(log: log, gate: gate)
        async let a = runtime.run(source: "host.log('a1') local r = host.wait('a') host.log(r) return r", chunkName: "=a")
        async let b = runtime.run(source: "host.log('b1') local r = host.wait('b') host.log(r) return r", chunkName: "=b")
        async let c = runtime.run(source: "host.log('c1') local r = host.wait('c') host.log(r) return r", chunkName: "=c")
        let results = await [a, b, c]
        #expect(try results.map { try $0.get() } == [[.text("woke a")], [.text("woke b")], [.text("woke c")]])
        // The gate opens only when all three wait: each started before any finished.
        let entries = log.entries
        let lastStart = entries.lastIndex { $0.hasSuffix("1") } ?? 0
        let firstEnd = entries.firstIndex { $0.hasPrefix("woke") } ?? 0
        #expect(lastStart < firstEnd, "\(entries)")
        #expect(await runtime.withState { $0.liveReferenceCount } == 0)
    }

    @Test("an async failure is raised at the caller's line and can be caught")
    func asyncFailure() async throws {
        let runtime = try await Self.runtime(log: Log(), gate: Gate(parties: 1))
        let failed = await runtime.run(source: "local x = 1\nhost.fail_later('gateway down')", chunkName: "@rule.lua")
        #expect(throws: LuaError.self) { try failed.get() }
        if case .failure(let error) = failed { #expect(error.message == "rule.lua:2: gateway down") }
        let caught = await runtime.run(source: "return pcall(host.fail_later, 'nope')", chunkName: "=caught")
        #expect(try caught.get() == [.boolean(false), .text("nope")])
    }

    @Test("an error after a suspension carries a traceback; the runtime goes on")
    func errorAfterSuspension() async throws {
        let runtime = try await Self.runtime(log: Log(), gate: Gate(parties: 1))
        let result = await runtime.run(source: "host.wait('x')\nlocal t = nil\nreturn t.field", chunkName: "@after.lua")
        guard case .failure(let error) = result else { Issue.record("expected failure"); return }
        #expect(error.message.hasPrefix("after.lua:3:"))
        #expect(error.traceback.contains("after.lua:3"))
        #expect(try await runtime.run(source: "return 7", chunkName: "=ok").get() == [.integer(7)])
    }

    @Test("the budget applies per resume inside coroutines")
    func budgetInCoroutine() async throws {
        let runtime = try await Self.runtime(log: Log(), gate: Gate(parties: 1))
        let result = await runtime.run(source: "host.wait('x') while true do end", chunkName: "=spin")
        guard case .failure(let error) = result else { Issue.record("expected failure"); return }
        #expect(error.kind == .budget)
        #expect(await runtime.withState { $0.liveReferenceCount } == 0)
    }

    @Test("arguments reach the chunk as ...")
    func chunkArguments() async throws {
        let runtime = try LuaRuntime()
        let result = await runtime.run(source: "local a, b = ... return b, a", chunkName: "=args", arguments: [.text("x"), .integer(2)])
        #expect(try result.get() == [.integer(2), .text("x")])
    }
}

/// A thread-safe list of strings.
final class Log: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ entry: String) { storage.withLock { $0.append(entry) } }
    var entries: [String] { storage.withLock { $0 } }
}

/// Lets waiters through once `parties` of them are waiting.
final class Gate: Sendable {
    private let state: Mutex<(waiting: Int, continuations: [CheckedContinuation<Void, Never>], open: Bool)>
    private let parties: Int

    init(parties: Int) {
        self.parties = parties
        state = Mutex((0, [], false))
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let release: [CheckedContinuation<Void, Never>] = state.withLock { state in
                if state.open { return [continuation] }
                state.waiting += 1
                state.continuations.append(continuation)
                if state.waiting >= parties {
                    state.open = true
                    defer { state.continuations = [] }
                    return state.continuations
                }
                return []
            }
            for waiter in release { waiter.resume() }
        }
    }
}
