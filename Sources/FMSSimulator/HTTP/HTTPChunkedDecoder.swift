/// Incremental decoder of a `Transfer-Encoding: chunked` body that discards the data.
///
/// Feed it the buffered bytes as they arrive; it reports how far it got. The decoded
/// size is bounded by `maxBodyBytes` (else `.bodyTooLarge`) and the trailer section by
/// `maxTrailerBytes` (else `.headersTooLarge`).
struct HTTPChunkedDecoder: Sendable {
    private enum State: Sendable {
        case sizeLine
        case data(remaining: Int)
        case dataEnd
        case trailer
        case done
    }

    /// The longest chunk-size line (size plus extensions) accepted.
    static let maxSizeLineBytes = 4096

    private static let lf: UInt8 = 0x0A
    private static let cr: UInt8 = 0x0D

    private var state: State = .sizeLine
    private var trailerBytes = 0
    /// How many data bytes the chunks carried so far.
    private(set) var decodedBytes = 0
    let maxBodyBytes: Int
    let maxTrailerBytes: Int

    /// Creates a decoder with the given limits.
    init(maxBodyBytes: Int, maxTrailerBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
        self.maxTrailerBytes = maxTrailerBytes
    }

    /// Whether the last chunk and the trailer section have been consumed.
    var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes what it can of `bytes[start...]` and returns the index of the first
    /// byte not consumed (past the end of the body once `isDone`).
    mutating func consume(_ bytes: [UInt8], from start: Int) throws(HTTPParseError) -> Int {
        var index = start
        while index < bytes.count {
            switch state {
            case .sizeLine:
                guard let lineEnd = bytes[index...].firstIndex(of: Self.lf) else {
                    if bytes.count - index > Self.maxSizeLineBytes {
                        throw .malformed("chunk size line too long")
                    }
                    return index
                }
                if lineEnd - index > Self.maxSizeLineBytes {
                    throw .malformed("chunk size line too long")
                }
                let size = try Self.parseSize(bytes[index..<lineEnd])
                index = lineEnd + 1
                if size == 0 {
                    state = .trailer
                } else {
                    let (total, overflow) = decodedBytes.addingReportingOverflow(size)
                    if overflow || total > maxBodyBytes {
                        throw .bodyTooLarge
                    }
                    decodedBytes = total
                    state = .data(remaining: size)
                }
            case .data(let remaining):
                let taken = min(remaining, bytes.count - index)
                index += taken
                state = taken == remaining ? .dataEnd : .data(remaining: remaining - taken)
            case .dataEnd:
                if bytes[index] == Self.lf {
                    index += 1
                } else if bytes[index] == Self.cr {
                    guard index + 1 < bytes.count else { return index }
                    guard bytes[index + 1] == Self.lf else {
                        throw .malformed("chunk data not followed by CRLF")
                    }
                    index += 2
                } else {
                    throw .malformed("chunk data not followed by CRLF")
                }
                state = .sizeLine
            case .trailer:
                guard let lineEnd = bytes[index...].firstIndex(of: Self.lf) else {
                    if trailerBytes + (bytes.count - index) > maxTrailerBytes {
                        throw .headersTooLarge
                    }
                    return index
                }
                let lineLength = lineEnd + 1 - index
                trailerBytes += lineLength
                if trailerBytes > maxTrailerBytes {
                    throw .headersTooLarge
                }
                let isBlank = lineLength == 1 || (lineLength == 2 && bytes[index] == Self.cr)
                index = lineEnd + 1
                if isBlank {
                    state = .done
                    return index
                }
            case .done:
                return index
            }
        }
        return index
    }

    /// Parses `hex-digits [ws] [; extensions] [CR]`; extensions are ignored.
    private static func parseSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        var content = line
        if content.last == cr {
            content = content.dropLast()
        }
        var size = 0
        var digits = 0
        var index = content.startIndex
        while index < content.endIndex, let digit = hexValue(content[index]) {
            let (times16, overflow1) = size.multipliedReportingOverflow(by: 16)
            let (sum, overflow2) = times16.addingReportingOverflow(digit)
            if overflow1 || overflow2 {
                throw .bodyTooLarge
            }
            size = sum
            digits += 1
            index += 1
        }
        guard digits > 0 else {
            throw .malformed("chunk size is not hexadecimal")
        }
        while index < content.endIndex, content[index] == 0x20 || content[index] == 0x09 {
            index += 1
        }
        guard index == content.endIndex || content[index] == UInt8(ascii: ";") else {
            throw .malformed("chunk size is not hexadecimal")
        }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }
}
