/// Reads durations as rule files write them: `"500ms"`, `"30s"`, `"5m"`, `"1h30m"`, `"1d"`, or a
/// number of seconds.
public enum DurationText {
    /// Seconds for `text`, or nil if it is not a duration.
    public static func seconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: " ")
        guard !trimmed.isEmpty else { return nil }
        if let plain = Double(trimmed) { return plain >= 0 && plain.isFinite ? plain : nil }
        var total = 0.0
        var number = ""
        var unit = ""
        var sawPart = false
        func flush() -> Bool {
            guard let value = Double(number), !unit.isEmpty else { return number.isEmpty && unit.isEmpty }
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86400
            default: return false
            }
            total += value * scale
            number = ""
            unit = ""
            sawPart = true
            return true
        }
        for character in trimmed {
            if character.isNumber || character == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(character)
            } else if character.isLetter {
                guard !number.isEmpty || !unit.isEmpty else { return nil }
                unit.append(character)
            } else {
                return nil
            }
        }
        guard flush(), sawPart, total.isFinite else { return nil }
        return total
    }
}

private extension String {
    func trimmingCharacters(in set: Character) -> String {
        var slice = Substring(self)
        while slice.first == set { slice.removeFirst() }
        while slice.last == set { slice.removeLast() }
        return String(slice)
    }
}
