/// Serializes a `JSONValue` to compact UTF-8 JSON.
///
/// Non-ASCII text is written as UTF-8, not escaped (as the vendor does); control
/// characters, quotes and backslashes are escaped. Output is deterministic.
///
/// The bytes are written into a private, raw growable buffer (`ByteSink`) rather than
/// appended to a `[UInt8]` one at a time: a 300-message batch is ~40 KB, and the
/// per-append uniqueness and capacity checks of `Array` were most of the write time.
public enum JSONWriter {
    /// The compact JSON bytes of `value`.
    public static func bytes(of value: JSONValue) -> [UInt8] {
        var sink = ByteSink(capacity: 4096)
        defer { sink.deallocate() }
        sink.writeValue(value)
        return sink.makeArray()
    }

    /// The compact JSON text of `value`.
    public static func string(of value: JSONValue) -> String {
        String(decoding: bytes(of: value), as: UTF8.self)
    }

    /// Appends the JSON bytes of `value` to `output`.
    public static func write(_ value: JSONValue, into output: inout [UInt8]) {
        var sink = ByteSink(capacity: 256)
        defer { sink.deallocate() }
        sink.writeValue(value)
        sink.append(to: &output)
    }

    /// Appends `text` as a quoted, escaped JSON string.
    public static func writeString(_ text: String, into output: inout [UInt8]) {
        var sink = ByteSink(capacity: text.utf8.count + 8)
        defer { sink.deallocate() }
        sink.writeString(text)
        sink.append(to: &output)
    }
}

/// A growable byte buffer written through a raw pointer, owned by one writer call.
///
/// Callers `reserve` room for what they are about to write and then use the unchecked
/// `put` functions, so the hot loops carry no bounds or uniqueness checks. The memory
/// must be released with `deallocate()` (the `JSONWriter` entry points do so with `defer`).
struct ByteSink {
    /// Start of the allocation.
    private var base: UnsafeMutablePointer<UInt8>
    /// Bytes written so far.
    private(set) var count = 0
    /// Bytes allocated.
    private var capacity: Int

    /// Allocates a sink with room for `capacity` bytes.
    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
    }

    /// Releases the memory; the sink must not be used afterwards.
    func deallocate() {
        base.deallocate()
    }

    /// The bytes written, as a new array.
    func makeArray() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let destination = buffer.baseAddress, count > 0 {
                destination.update(from: base, count: count)
            }
            initialized = count
        }
    }

    /// Appends the bytes written to `output`.
    func append(to output: inout [UInt8]) {
        output.append(contentsOf: UnsafeBufferPointer(start: base, count: count))
    }

    /// Makes sure `extra` more bytes fit without growing.
    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(toFit: count + extra) }
    }

    /// Moves the contents to a larger allocation (at least doubling).
    @inline(never)
    private mutating func grow(toFit needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Appends one byte; room must have been reserved.
    @inline(__always)
    mutating func put(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    /// Appends two bytes; room must have been reserved.
    @inline(__always)
    mutating func put(_ first: UInt8, _ second: UInt8) {
        base[count] = first
        base[count + 1] = second
        count += 2
    }

    /// Appends `length` bytes from `source`; room must have been reserved.
    @inline(__always)
    mutating func put(_ source: UnsafePointer<UInt8>, length: Int) {
        (base + count).update(from: source, count: length)
        count += length
    }

    /// Appends one byte, growing if needed.
    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        put(byte)
    }

    /// Appends the bytes of an ASCII literal, growing if needed.
    @inline(__always)
    mutating func append(_ literal: StaticString) {
        let length = literal.utf8CodeUnitCount
        reserve(length)
        put(literal.utf8Start, length: length)
    }

    // MARK: - JSON

    /// Appends the JSON bytes of `value`.
    mutating func writeValue(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let flag): append(flag ? "true" : "false")
        case .integer(let number): writeInteger(number)
        case .double(let number):
            if number.isFinite {
                if number.rounded() == number, abs(number) < 1e15 {
                    writeInteger(Int64(number))
                } else {
                    writeASCII(String(number))
                }
            } else {
                append("null")
            }
        case .string(let text): writeString(text)
        case .array(let elements):
            append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if first { first = false } else { append(UInt8(ascii: ",")) }
                writeValue(element)
            }
            append(UInt8(ascii: "]"))
        case .object(let members):
            append(UInt8(ascii: "{"))
            var first = true
            for member in members {
                if first { first = false } else { append(UInt8(ascii: ",")) }
                writeString(member.key)
                append(UInt8(ascii: ":"))
                writeValue(member.value)
            }
            append(UInt8(ascii: "}"))
        }
    }

    /// Appends the UTF-8 bytes of `text` as they are (used for number renderings).
    private mutating func writeASCII(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            reserve(utf8.count)
            if let source = utf8.baseAddress { put(source, length: utf8.count) }
        }
    }

    /// Appends the decimal digits of `number` without going through `String`.
    mutating func writeInteger(_ number: Int64) {
        reserve(20)  // "-9223372036854775808" is the longest rendering.
        if number < 0 { put(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        var digits = 1
        var limit: UInt64 = 10
        while digits < 20, magnitude >= limit {
            digits += 1
            limit = limit &* 10
        }
        count += digits
        var index = count - 1
        repeat {
            let (quotient, remainder) = magnitude.quotientAndRemainder(dividingBy: 10)
            base[index] = UInt8(truncatingIfNeeded: remainder) &+ UInt8(ascii: "0")
            magnitude = quotient
            index -= 1
        } while magnitude != 0
    }

    /// Appends `text` as a quoted, escaped JSON string.
    mutating func writeString(_ text: String) {
        let written: Bool? = text.utf8.withContiguousStorageIfAvailable { utf8 in
            writeQuoted(utf8)
            return true
        }
        if written == nil {
            var copy = text
            copy.withUTF8 { writeQuoted($0) }
        }
    }

    /// Appends UTF-8 bytes as a quoted, escaped JSON string.
    ///
    /// Most strings need no escaping: they are found so with a word-at-a-time scan and
    /// copied in one go; otherwise the bytes are copied run by run between escapes.
    @inline(__always)
    private mutating func writeQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        let length = utf8.count
        reserve(length + 2)
        put(UInt8(ascii: "\""))
        guard let source = utf8.baseAddress else {
            put(UInt8(ascii: "\""))
            return
        }
        if !ByteSink.needsEscaping(source, length: length) {
            put(source, length: length)
            put(UInt8(ascii: "\""))
            return
        }
        var runStart = 0
        for index in 0..<length {
            let byte = source[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            if runStart < index {
                reserve(index - runStart)
                put(source + runStart, length: index - runStart)
            }
            runStart = index + 1
            reserve(6)
            switch byte {
            case 0x22: put(0x5C, 0x22)
            case 0x5C: put(0x5C, 0x5C)
            case 0x0A: put(0x5C, UInt8(ascii: "n"))
            case 0x0D: put(0x5C, UInt8(ascii: "r"))
            case 0x09: put(0x5C, UInt8(ascii: "t"))
            default:
                put(0x5C, UInt8(ascii: "u"))
                put(0x30, 0x30)
                put(ByteSink.hexDigit(byte >> 4), ByteSink.hexDigit(byte & 0xF))
            }
        }
        if runStart < length {
            reserve(length - runStart)
            put(source + runStart, length: length - runStart)
        }
        append(UInt8(ascii: "\""))
    }

    /// A lower-case hexadecimal digit for a value below 16.
    @inline(__always)
    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? value &+ 0x30 : value &+ (UInt8(ascii: "a") &- 10)
    }

    /// Whether any of the `length` bytes at `source` is a control character, `"` or `\`.
    ///
    /// Checks eight bytes at a time with the classic "has a byte less than n" bit trick
    /// (exact as a yes/no answer), then the tail byte by byte.
    @inline(__always)
    static func needsEscaping(_ source: UnsafePointer<UInt8>, length: Int) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let raw = UnsafeRawPointer(source)
        var offset = 0
        while offset + 8 <= length {
            let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            let quotes = word ^ (ones &* 0x22)
            let backslashes = word ^ (ones &* 0x5C)
            let control = (word &- ones &* 0x20) & ~word
            let quote = (quotes &- ones) & ~quotes
            let backslash = (backslashes &- ones) & ~backslashes
            if (control | quote | backslash) & highs != 0 { return true }
            offset += 8
        }
        while offset < length {
            let byte = source[offset]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C { return true }
            offset += 1
        }
        return false
    }
}
