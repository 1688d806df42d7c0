/// One option a command accepts.
public struct OptionSpec: Sendable {
    /// The long name without dashes (`mobile` for `--mobile`).
    public var name: String
    /// The value's placeholder (`M`); nil for a flag.
    public var valueName: String?
    /// One line of help.
    public var help: String
    /// Whether the option may be given more than once.
    public var repeatable: Bool

    /// An option taking a value.
    public static func value(_ name: String, _ valueName: String, _ help: String, repeatable: Bool = false) -> OptionSpec {
        OptionSpec(name: name, valueName: valueName, help: help, repeatable: repeatable)
    }

    /// A flag.
    public static func flag(_ name: String, _ help: String) -> OptionSpec {
        OptionSpec(name: name, valueName: nil, help: help, repeatable: false)
    }
}

/// The command line after parsing: option values, flags and positional arguments.
public struct ParsedArguments: Sendable {
    /// Values per option name, in order given.
    public var values: [String: [String]] = [:]
    /// Flags given.
    public var flags: Set<String> = []
    /// Positional arguments, in order.
    public var positionals: [String] = []

    /// The (last) value of an option.
    public func value(_ name: String) -> String? { values[name]?.last }
    /// All values of a repeatable option.
    public func all(_ name: String) -> [String] { values[name] ?? [] }
    /// Whether a flag was given.
    public func has(_ name: String) -> Bool { flags.contains(name) }
}

/// Parses `--name value`, `--name=value`, flags, `--` and positionals against a list of specs.
///
/// Unknown options are errors that suggest the closest known name.
public enum OptionParser {
    /// Parses `arguments` (without the command words) for `command` (used in messages).
    ///
    /// With `stopAtFirstPositional`, everything from the first positional argument on is
    /// positional (a script's own arguments, as in `fms run script.lua --verbose`).
    public static func parse(_ arguments: [String], specs: [OptionSpec], command: String,
                             stopAtFirstPositional: Bool = false) throws(CommandError) -> ParsedArguments {
        var parsed = ParsedArguments()
        let byName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var index = 0
        var onlyPositionals = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if onlyPositionals || !argument.hasPrefix("-") || argument == "-" {
                parsed.positionals.append(argument)
                if stopAtFirstPositional { onlyPositionals = true }
                continue
            }
            if argument == "--" {
                onlyPositionals = true
                continue
            }
            var name: String
            if argument.hasPrefix("--") {
                name = String(argument.dropFirst(2))
            } else if argument.count == 2, let letter = byName[String(argument.dropFirst())], letter.name.count == 1 {
                name = letter.name
            } else {
                throw .usage("\(command): unknown option '\(argument)' (options are spelled --name)")
            }
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let spec = byName[name] else {
                let hint = suggestion(for: name, among: specs.map(\.name)).map { " (did you mean '--\($0)'?)" } ?? ""
                throw .usage("\(command): unknown option '--\(name)'\(hint); see 'fms \(command) --help'")
            }
            guard let valueName = spec.valueName else {
                if inlineValue != nil { throw .usage("\(command): option '--\(name)' takes no value") }
                parsed.flags.insert(name)
                continue
            }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard index < arguments.count else { throw .usage("\(command): option '--\(name)' needs a value (\(valueName))") }
                value = arguments[index]
                index += 1
            }
            if !spec.repeatable, parsed.values[name] != nil {
                throw .usage("\(command): option '--\(name)' given twice")
            }
            parsed.values[name, default: []].append(value)
        }
        return parsed
    }

    /// The known name closest to `name` by edit distance, if close enough to be a typo.
    static func suggestion(for name: String, among names: [String]) -> String? {
        let scored = names.map { ($0, editDistance(name, $0)) }.min { $0.1 < $1.1 }
        guard let (best, distance) = scored, distance <= max(2, name.count / 3) else { return nil }
        return best
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// The help lines for `specs`, aligned.
    public static func helpLines(_ specs: [OptionSpec]) -> String {
        let labels = specs.map { spec in
            (spec.name.count == 1 ? "-" : "--") + spec.name + (spec.valueName.map { " \($0)" } ?? "")
        }
        let width = (labels.map(\.count).max() ?? 0) + 2
        return zip(labels, specs).map { label, spec in
            "  " + label + String(repeating: " ", count: width - label.count) + spec.help
        }.joined(separator: "\n")
    }
}
