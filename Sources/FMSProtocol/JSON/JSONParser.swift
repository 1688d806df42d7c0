/// Parses JSON text into a `JSONValue`, with the leniencies the vendor's gateway shows.
///
/// Strict RFC 8259 by default; `Options` can allow trailing commas (the vendor document's
/// examples have them) and single-quoted strings and bare keys (the vendor demo sends
/// `{'name':'x'}` inside `content`). Errors carry the byte offset and a short excerpt.
public struct JSONParser {
    /// Which deviations from strict JSON are accepted.
    public struct Options: Sendable {
        /// Accept `[1,2,]` and `{"a":1,}`.
        public var allowTrailingCommas: Bool
        /// Accept `'text'` strings and unquoted object keys.
        public var allowSingleQuotesAndBareKeys: Bool

        /// Creates options; everything strict by default.
        public init(allowTrailingCommas: Bool = false, allowSingleQuotesAndBareKeys: Bool = false) {
            self.allowTrailingCommas = allowTrailingCommas
            self.allowSingleQuotesAndBareKeys = allowSingleQuotesAndBareKeys
        }

        /// Strict JSON.
        public static let strict = Options()
        /// What a tolerant reader of vendor answers accepts.
        public static let tolerant = Options(allowTrailingCommas: true)
        /// Everything, for the pseudo-JSON found in `content` strings.
        public static let relaxed = Options(allowTrailingCommas: true, allowSingleQuotesAndBareKeys: true)
    }

    /// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
    public static let maximumDepth = 128

    /// Parses a whole document: anything but whitespace after the value is an error.
    public static func parse(_ bytes: [UInt8], options: Options = .strict) throws(JSONSyntaxError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONSyntaxError) -> JSONValue in
            var parser = Cursor(bytes: buffer, options: options)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            if parser.position != buffer.count {
                throw parser.error("unexpected text after the JSON value")
            }
            return value
        }
    }

    /// Parses a document held in a string.
    public static func parse(_ text: String, options: Options = .strict) throws(JSONSyntaxError) -> JSONValue {
        try parse(Array(text.utf8), options: options)
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        let options: Options
        var position = 0
        /// Recently read object keys, so that a key seen before costs a byte comparison
        /// instead of a new `String` (a batch repeats the same few keys hundreds of times).
        /// Values are not cached: most are unique, and trying cost more than it saved.
        var keyCache = [CachedKey](repeating: CachedKey(), count: Cursor.keyCacheSlots)

        /// Slots in `keyCache` (a power of two).
        static let keyCacheSlots = 32

        /// One `keyCache` slot: where the key's bytes lie in the input, and its `String`.
        struct CachedKey {
            var start = 0
            var length = -1
            var text = ""
        }

        init(bytes: UnsafeBufferPointer<UInt8>, options: Options) {
            self.bytes = bytes
            self.options = options
        }

        func error(_ reason: String) -> JSONSyntaxError {
            let start = max(0, position - 20)
            let end = min(bytes.count, position + 20)
            let excerpt = String(decoding: bytes[start..<end], as: UTF8.self)
            return JSONSyntaxError(reason: reason, offset: position, excerpt: excerpt)
        }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth < JSONParser.maximumDepth else { throw error("nesting deeper than \(JSONParser.maximumDepth)") }
            guard position < bytes.count else { throw error("unexpected end of input") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString(quote: UInt8(ascii: "\"")))
            case UInt8(ascii: "'") where options.allowSingleQuotesAndBareKeys:
                return .string(try parseString(quote: UInt8(ascii: "'")))
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw error("unexpected character")
            }
        }

        mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
            let count = literal.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw error("unexpected end of input") }
            let matches = literal.withUTF8Buffer { expected in
                (0..<count).allSatisfy { bytes[position + $0] == expected[$0] }
            }
            guard matches else { throw error("invalid literal") }
            position += count
        }

        mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            position += 1
            var members: [JSONMember] = []
            members.reserveCapacity(4)
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input in an object") }
                let key: String
                switch bytes[position] {
                case UInt8(ascii: "\""): key = try parseKey()
                case UInt8(ascii: "'") where options.allowSingleQuotesAndBareKeys:
                    key = try parseString(quote: UInt8(ascii: "'"))
                case UInt8(ascii: "}") where options.allowTrailingCommas && !members.isEmpty:
                    position += 1
                    return .object(members)
                default:
                    guard options.allowSingleQuotesAndBareKeys else { throw error("expected a string key") }
                    key = try parseBareKey()
                }
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                position += 1
                skipWhitespace()
                let value = try parseValue(depth: depth + 1)
                members.append(JSONMember(key, value))
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input in an object") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                if bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    return .object(members)
                }
                throw error("expected ',' or '}' in an object")
            }
        }

        /// Reads a double-quoted object key, reusing the `String` of an identical earlier key.
        ///
        /// Keys with escapes, and malformed ones, are left to `parseString`.
        mutating func parseKey() throws(JSONSyntaxError) -> String {
            let start = position + 1
            var end = start
            var highBits: UInt8 = 0
            while end < bytes.count {
                let byte = bytes[end]
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return try parseString(quote: UInt8(ascii: "\"")) }
                highBits |= byte
                end += 1
            }
            guard end < bytes.count else { return try parseString(quote: UInt8(ascii: "\"")) }
            let length = end - start
            // bytes[start] and bytes[end - 1] are in bounds even for "" (they are the quotes).
            let slot = (length &* 31 &+ Int(bytes[start]) &* 7 &+ Int(bytes[end - 1])) & (Cursor.keyCacheSlots - 1)
            let cached = keyCache[slot]
            if cached.length == length, bytesEqual(cached.start, start, length: length) {
                position = end + 1
                return cached.text
            }
            let run = UnsafeBufferPointer(rebasing: bytes[start..<end])
            guard let text = highBits & 0x80 == 0 ? String(decoding: run, as: UTF8.self) : validatedUTF8String(run) else {
                return try parseString(quote: UInt8(ascii: "\""))
            }
            keyCache[slot] = CachedKey(start: start, length: length, text: text)
            position = end + 1
            return text
        }

        /// Whether the `length` input bytes at offsets `first` and `second` are the same.
        @inline(__always)
        func bytesEqual(_ first: Int, _ second: Int, length: Int) -> Bool {
            var index = 0
            while index < length {
                if bytes[first + index] != bytes[second + index] { return false }
                index += 1
            }
            return true
        }

        mutating func parseBareKey() throws(JSONSyntaxError) -> String {
            let start = position
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: ":") || byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { break }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: ",") { break }
                position += 1
            }
            guard position > start else { throw error("expected a key") }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            position += 1
            var elements: [JSONValue] = []
            elements.reserveCapacity(8)
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                if options.allowTrailingCommas, !elements.isEmpty, position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(elements)
                }
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input in an array") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                if bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(elements)
                }
                throw error("expected ',' or ']' in an array")
            }
        }

        mutating func parseString(quote: UInt8) throws(JSONSyntaxError) -> String {
            position += 1
            let start = position
            // Fast path: no escapes. `highBits` collects bit 7 of every byte, so pure ASCII
            // text (the usual case) skips our UTF-8 validation.
            var highBits: UInt8 = 0
            while position < bytes.count {
                let byte = bytes[position]
                if byte == quote {
                    let run = UnsafeBufferPointer(rebasing: bytes[start..<position])
                    let text = highBits & 0x80 == 0 ? String(decoding: run, as: UTF8.self) : validatedUTF8String(run)
                    guard let text else { throw error("invalid UTF-8 in a string") }
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("control character in a string") }
                highBits |= byte
                position += 1
            }
            var scalars: [UInt8] = Array(bytes[start..<position])
            while position < bytes.count {
                let byte = bytes[position]
                if byte == quote {
                    position += 1
                    guard let text = scalars.withUnsafeBufferPointer({ validatedUTF8String($0) }) else {
                        throw error("invalid UTF-8 in a string")
                    }
                    return text
                }
                if byte < 0x20 { throw error("control character in a string") }
                if byte != UInt8(ascii: "\\") {
                    scalars.append(byte)
                    position += 1
                    continue
                }
                position += 1
                guard position < bytes.count else { break }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append(0x22)
                case UInt8(ascii: "'"): scalars.append(0x27)
                case UInt8(ascii: "\\"): scalars.append(0x5C)
                case UInt8(ascii: "/"): scalars.append(0x2F)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw error("invalid escape sequence")
                }
            }
            throw error("unterminated string")
        }

        mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("invalid hex digit in \\u escape")
                }
                value = value * 16 + digit
                position += 1
            }
            return value
        }

        /// The `Int64` spelled by the already-checked digits (with an optional leading `-`)
        /// in `start..<end`, or nil when it does not fit (the caller then reads a `Double`).
        @inline(__always)
        func integerValue(from start: Int, to end: Int) -> Int64? {
            let negative = bytes[start] == UInt8(ascii: "-")
            var magnitude: UInt64 = 0
            for index in (negative ? start + 1 : start)..<end {
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] &- UInt8(ascii: "0")))
                if overflow1 || overflow2 { return nil }
                magnitude = sum
            }
            if negative {
                if magnitude <= UInt64(Int64.max) { return -Int64(magnitude) }
                return magnitude == Int64.min.magnitude ? Int64.min : nil
            }
            return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
        }

        mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
            let start = position
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            let digitsStart = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            guard position > digitsStart else { throw error("invalid number") }
            if bytes[digitsStart] == UInt8(ascii: "0"), position - digitsStart > 1 {
                position = digitsStart + 1
                throw error("leading zero in a number")
            }
            var isInteger = true
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                isInteger = false
                position += 1
                let fractionStart = position
                while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
                guard position > fractionStart else { throw error("invalid number") }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                isInteger = false
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                let exponentStart = position
                while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
                guard position > exponentStart else { throw error("invalid number") }
            }
            if isInteger, let integer = integerValue(from: start, to: position) { return .integer(integer) }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard let double = Double(text) else { throw error("invalid number") }
            return .double(double)
        }
    }
}

/// JSON text that could not be parsed: why, where, and the text around that place.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong ("unexpected end of input").
    public var reason: String
    /// Byte offset of the fault.
    public var offset: Int
    /// Up to 40 bytes of the input around the fault.
    public var excerpt: String

    /// "invalid JSON at byte 12 (reason) near '…'".
    public var description: String {
        "invalid JSON at byte \(offset) (\(reason)) near '\(excerpt)'"
    }
}

/// A String from UTF-8 bytes, or nil if they are not valid UTF-8.
///
/// Hand-written because `String(validating:as:)` runs unspecialized here and spent ~40 % of
/// parse time in runtime metadata lookups (measured with perf on a 300-message batch).
@inline(__always)
func validatedUTF8String(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
    var index = 0
    let count = bytes.count
    while index < count {
        let lead = bytes[index]
        if lead < 0x80 {
            index += 1
            continue
        }
        let length: Int
        let minimum: UInt32
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; minimum = 0x80; scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; minimum = 0x800; scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; minimum = 0x10000; scalar = UInt32(lead & 0x07)
        default: return nil
        }
        guard index + length <= count else { return nil }
        for offset in 1..<length {
            let next = bytes[index + offset]
            guard next & 0xC0 == 0x80 else { return nil }
            scalar = scalar << 6 | UInt32(next & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return nil }
        index += length
    }
    return String(decoding: bytes, as: UTF8.self)
}
