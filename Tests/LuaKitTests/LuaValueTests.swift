import Testing
@testable import LuaKit

/// Conversion between Lua and Swift values.
@Suite("LuaValue conversion")
struct LuaValueTests {
    @Test("round trips through Lua", arguments: [
        LuaValue.nil, .boolean(true), .boolean(false), .integer(0), .integer(Int64.max), .integer(-7),
        .number(2.5), .number(3.0), .text(""), .text("磁盘 91%"), .string(LuaString(bytes: [0x61, 0x00, 0x62, 0xFF])),
        .table(LuaTable(sequence: [.integer(1), .text("two"), .table(LuaTable(["x": .boolean(true)]))])),
        .table(LuaTable(["host": .text("db1"), "pct": .integer(91), "nested": .table(LuaTable(sequence: [.number(0.5)]))])),
    ])
    func roundTrip(value: LuaValue) throws {
        let state = try LuaState()
        state.setGlobal("v", value)
        #expect(try state.global("v") == value)
    }

    @Test("integers and floats stay apart; embedded zeros survive")
    func numbersAndZeros() throws {
        let state = try LuaState()
        #expect(try state.run("return 3, 3.0, 2^53, 'a\\0b', #'a\\0b'")
                == [.integer(3), .number(3.0), .number(9_007_199_254_740_992), .string(LuaString(bytes: [97, 0, 98])), .integer(3)])
    }

    @Test("arrays and maps are told apart, holes included")
    func arraysAndMaps() throws {
        let state = try LuaState()
        let values = try state.run("return {1, 2, 3}, {a = 1}, {1, 2, x = 'y'}, {}, {[1] = 'a', [3] = 'c'}")
        #expect(values[0] == .table(LuaTable(sequence: [.integer(1), .integer(2), .integer(3)])))
        #expect(values[0].tableValue?.isArray == true)
        #expect(values[1] == .table(LuaTable(["a": .integer(1)])))
        #expect(values[2].tableValue?.sequence == [.integer(1), .integer(2)])
        #expect(values[2].tableValue?["x"] == .text("y"))
        #expect(values[3] == .table(LuaTable()))
        let holes = try #require(values[4].tableValue)
        #expect(holes.sequence.count + holes.fields.count >= 2)
    }

    @Test("cycles and functions are reported, not followed")
    func unconvertible() throws {
        let state = try LuaState()
        try state.run("cyc = {a = {}}; cyc.a.b = cyc; fn = {x = {handler = print}}")
        #expect { try state.global("cyc") } throws: { error in
            (error as? LuaConversionError)?.description == "a.b: the table contains itself (a cycle)"
        }
        #expect { try state.global("fn") } throws: { error in
            (error as? LuaConversionError)?.description == "x.handler: cannot convert a function to data"
        }
        // The same table twice (not a cycle) is fine.
        try state.run("shared = {1}; twice = {a = shared, b = shared}")
        #expect(try state.global("twice").tableValue?["a"] == .table(LuaTable(sequence: [.integer(1)])))
    }

    @Test("deep nesting is bounded")
    func deepNesting() throws {
        let state = try LuaState()
        try state.run("deep = {} local t = deep for i = 1, 100 do t.x = {} t = t.x end")
        #expect(throws: LuaConversionError.self) { try state.global("deep") }
    }
}
