/// Turns Lua's `"file:line: "` prefix into `"file:line"`.
enum LuaPosition {
    /// The position without its trailing colon and space (hand-written: a CharacterSet per call
    /// was half the cost of a registration).
    static func trimmed(_ prefix: String) -> String {
        var text = Substring(prefix)
        while let last = text.last, last == " " || last == ":" { text.removeLast() }
        return String(text)
    }
}
