import CZlib

/// gzip (RFC 1952) compression through zlib, as Java's `GZIPOutputStream`/`GZIPInputStream`.
public enum Gzip {
    /// zlib's default level (6), which is what Java's `GZIPOutputStream` uses.
    public static let defaultLevel: Int32 = -1

    /// Largest output `decompress` produces unless told otherwise (64 MiB).
    public static let defaultInflateLimit = 64 << 20

    /// Compresses `input` into one gzip member.
    public static func compress(_ input: [UInt8], level: Int32 = defaultLevel) throws(CodecError) -> [UInt8] {
        // Deflate states (~270 KB each) are reused: creating one per call cost page faults
        // that doubled the time of a 300-message batch.
        guard let stream = DeflateStatePool.shared.take(level: level) else {
            throw CodecError.corruptGzip("deflateInit2 failed")
        }
        defer { DeflateStatePool.shared.give(stream, level: level) }
        let bound = Int(deflateBound(stream, UInt(input.count)))
        var output = [UInt8](repeating: 0, count: bound + 32)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBytes in
            output.withUnsafeMutableBufferPointer { outBytes in
                stream.pointee.next_in = inBytes.baseAddress
                stream.pointee.avail_in = UInt32(inBytes.count)
                stream.pointee.next_out = outBytes.baseAddress
                stream.pointee.avail_out = UInt32(outBytes.count)
                return deflate(stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw CodecError.corruptGzip("deflate returned \(status)") }
        output.removeLast(output.count - Int(stream.pointee.total_out))
        return output
    }

    /// Inflates one gzip member; trailing bytes after it are an error.
    ///
    /// - Parameter limit: the most bytes the output may have; more throws `.inflatedTooLarge`.
    public static func decompress(_ input: [UInt8], limit: Int = defaultInflateLimit) throws(CodecError) -> [UInt8] {
        guard !input.isEmpty else { throw CodecError.truncatedGzip }
        let limit = max(0, limit)
        var stream = z_stream()
        guard fp_inflate_init_gzip(&stream) == Z_OK else { throw CodecError.corruptGzip("inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        // At least one byte of room, so a stream that inflates to nothing can finish at limit 0.
        var output = [UInt8](repeating: 0, count: max(1, min(limit, max(4096, input.count * 4))))
        var produced = 0
        var input = input
        var failure: CodecError?
        input.withUnsafeMutableBufferPointer { inBytes in
            stream.next_in = inBytes.baseAddress
            stream.avail_in = UInt32(inBytes.count)
            while true {
                if produced == output.count {
                    guard output.count < limit else { failure = .inflatedTooLarge(limit: limit); return }
                    output.append(contentsOf: repeatElement(0, count: max(1, min(limit, output.count * 2) - output.count)))
                }
                let status: Int32 = output.withUnsafeMutableBufferPointer { outBytes in
                    stream.next_out = outBytes.baseAddress.map { $0 + produced }
                    stream.avail_out = UInt32(outBytes.count - produced)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    produced = outBytes.count - Int(stream.avail_out)
                    return status
                }
                switch status {
                case Z_STREAM_END:
                    if stream.avail_in != 0 { failure = .corruptGzip("trailing bytes after the gzip stream") }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: out of input before the end (or out of output space, handled above).
                    if stream.avail_in == 0 { failure = .truncatedGzip; return }
                    continue
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "inflate returned \(status)"
                    failure = .corruptGzip(message)
                    return
                }
            }
        }
        if let failure { throw failure }
        guard produced <= limit else { throw CodecError.inflatedTooLarge(limit: limit) }
        output.removeLast(output.count - produced)
        return output
    }
}
