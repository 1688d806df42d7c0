import Testing
@testable import LuaKit

/// Errors, tracebacks, Swift functions and argument checks.
@Suite("LuaState: errors, functions, arguments")
struct LuaStateTests {
    @Test("a runtime error carries file:line and a traceback")
    func runtimeError() throws {
        let state = try LuaState()
        do {
            try state.run("local x = 1\nlocal function f() error('boom') end\nf()", chunkName: "@rules/disk.lua")
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .runtime)
            #expect(error.message == "rules/disk.lua:2: boom")
            #expect(error.traceback.hasPrefix("stack traceback:"))
            #expect(error.traceback.contains("rules/disk.lua:3"))
        }
    }

    @Test("a syntax error names the line")
    func syntaxError() throws {
        let state = try LuaState()
        #expect {
            try state.run("x = 1\nif then\n", chunkName: "@bad.lua")
        } throws: { error in
            guard let error = error as? LuaError else { return false }
            return error.kind == .syntax && error.message.hasPrefix("bad.lua:2:")
        }
    }

    @Test("binary chunks are refused")
    func binaryChunks() throws {
        let state = try LuaState()
        #expect(throws: LuaError.self) { try state.run("\u{1B}Lua", chunkName: "=bin") }
    }

    @Test("Swift functions return values and raise errors that blame the caller's line")
    func swiftFunctions() throws {
        let state = try LuaState()
        state.defineModule("host", functions: [
            "add": { call throws(LuaBindingError) in .values([.integer(try call.integer(1) + call.integer(2))]) },
            "fail": { _ throws(LuaBindingError) in throw LuaBindingError("it failed") },
            "pair": { _ throws(LuaBindingError) in .values([.text("a"), .boolean(true)]) },
            "single": { _ throws(LuaBindingError) in .value(.table(LuaTable(["k": .text("v")]))) },
        ])
        #expect(try state.run("return host.add(2, 40)") == [.integer(42)])
        #expect(try state.run("return host.pair()") == [.text("a"), .boolean(true)])
        #expect(try state.run("return select('#', host.single()), host.single().k") == [.integer(1), .text("v")])
        #expect(try state.run("return package.loaded.host == host") == [.boolean(true)])
        do {
            try state.run("local a = 1\n\nhost.fail()", chunkName: "@script.lua")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "script.lua:3: it failed")
        }
        // A Swift error is an ordinary Lua error: pcall catches it and the state goes on.
        #expect(try state.run("local ok, err = pcall(host.fail) return ok, err") == [.boolean(false), .text("it failed")])
    }

    @Test("argument errors read like Lua's own", arguments: [
        ("host.needs_table()", "bad argument #1 to 'host.needs_table' (table expected, got no value)"),
        ("host.needs_table(nil)", "bad argument #1 to 'host.needs_table' (table expected, got nil)"),
        ("host.needs_table('x')", "bad argument #1 to 'host.needs_table' (table expected, got string)"),
        ("host.needs_table{ mobil = '1' }", "unknown field 'mobil' in host.needs_table (did you mean 'mobile'?)"),
        ("host.needs_table{ mobile = {} }", "field 'mobile' of host.needs_table: string expected, got table"),
        ("host.needs_table{ [1] = 'x' }", "host.needs_table: option keys must be names, got a number key"),
        ("host.add(1, 'x')", "bad argument #2 to 'host.add' (number expected, got string)"),
        ("host.add(1, 2.5)", "bad argument #2 to 'host.add' (number has no integer representation)"),
    ])
    func argumentErrors(code: String, message: String) throws {
        let state = try LuaState()
        state.defineModule("host", functions: [
            "needs_table": { call throws(LuaBindingError) in
                let options = try call.options(1, allowed: ["mobile", "template"])
                return .values([.text(try options.optionalString("mobile") ?? "")])
            },
            "add": { call throws(LuaBindingError) in .values([.integer(try call.integer(1) + call.integer(2))]) },
        ])
        do {
            try state.run("\n" + code, chunkName: "@rule.lua")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "rule.lua:2: " + message)
        }
    }

    @Test("nested module tables")
    func nestedModule() throws {
        let state = try LuaState()
        state.defineModule("fms", functions: ["a": { _ throws(LuaBindingError) in .values([.integer(1)]) }])
        state.defineModule("fms.template", functions: ["b": { _ throws(LuaBindingError) in .values([.integer(2)]) }])
        #expect(try state.run("return fms.a() + fms.template.b()") == [.integer(3)])
    }
}
