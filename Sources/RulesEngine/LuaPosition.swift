/// Turns Lua's `"file:line: "` prefix into `"file:line"`.
enum LuaPosition {
    /// The position without its trailing colon and space (hand-written: a CharacterSet per call
    /// was half the cost of a registration).
    static func trimmed(_ prefix: String) -> String {
        var text = Substring(prefix)
        while let last = text.last, last == " " || last == ":" { text.removeLast() }
        return String(text)
    }

    /// The file of a `"file:line: "` prefix (nil when there is none).
    static func rule(of prefix: String) -> String? {
        let position = trimmed(prefix)
        guard let colon = position.lastIndex(of: ":"), Int(position[position.index(after: colon)...]) != nil else { return nil }
        return String(position[..<colon])
    }
}
