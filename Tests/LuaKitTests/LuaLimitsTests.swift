import Testing
@testable import LuaKit

/// The instruction budget, the memory cap and reference counting.
@Suite("LuaState limits and references")
struct LuaLimitsTests {
    @Test("an endless loop exhausts the budget; the state stays usable")
    func budget() throws {
        let state = try LuaState(instructionBudget: 100_000)
        do {
            try state.run("local n = 0\nwhile true do n = n + 1 end", chunkName: "@loop.lua")
            Issue.record("expected the budget to run out")
        } catch {
            #expect(error.kind == .budget)
            #expect(error.message == "loop.lua:2: instruction budget exceeded")
        }
        #expect(try state.run("return 1 + 1") == [.integer(2)])
    }

    @Test("the budget is per call: many small calls are fine")
    func budgetPerCall() throws {
        let state = try LuaState(instructionBudget: 10_000)
        for _ in 0..<100 { try state.run("local s = 0 for i = 1, 1000 do s = s + i end") }
    }

    @Test("a memory bomb fails in its own code; the host and the state survive")
    func memoryCap() throws {
        let state = try LuaState(memoryLimit: 8 << 20)
        do {
            try state.run("local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(64) .. i end", chunkName: "@bomb.lua")
            Issue.record("expected not enough memory")
        } catch {
            #expect(error.kind == .memory)
            #expect(error.message.contains("not enough memory"))
        }
        #expect(state.memoryInUse < 8 << 20)
        #expect(try state.run("return ('ok'):upper()") == [.text("OK")])
    }

    @Test("references are counted and released explicitly")
    func references() throws {
        let state = try LuaState()
        var kept: [LuaReference] = []
        state.defineModule("host", functions: [
            "keep": { call throws(LuaBindingError) in
                kept.append(try call.function(1))
                return .none
            },
        ])
        try state.run("host.keep(function() return 1 end) host.keep(print)")
        #expect(state.liveReferenceCount == 2)
        state.collectGarbage()
        #expect(try state.call(kept[0]) == [.integer(1)], "a kept function survives garbage collection")
        for reference in kept { state.release(reference) }
        #expect(state.liveReferenceCount == 0)
    }

    @Test("running chunks leaves no references behind")
    func noLeaks() throws {
        let state = try LuaState()
        for _ in 0..<10 { try state.run("return 1") }
        _ = try? state.run("error('x')")
        _ = try? state.run("if then")
        #expect(state.liveReferenceCount == 0)
    }
}
