/// The account's secretKey, used byte for byte as the AES key.
///
/// Only 16, 24 or 32 bytes make an AES key (AES-128/192/256); the vendor neither derives
/// nor pads keys, so any other length is a configuration error. The key never prints
/// itself: `description` and `debugDescription` are redacted.
public struct SecretKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The raw key bytes.
    public let bytes: [UInt8]

    /// Wraps the bytes of `text` (UTF-8), trimming one trailing line break as key files have.
    public init(_ text: String) throws(CodecError) {
        // Work on bytes: "\r\n" is one Character in Swift, so hasSuffix("\n") misses it.
        var bytes = Array(text.utf8)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        try self.init(bytes: bytes)
    }

    /// Wraps raw key bytes.
    public init(bytes: [UInt8]) throws(CodecError) {
        guard [16, 24, 32].contains(bytes.count) else { throw CodecError.invalidKeyLength(bytes.count) }
        self.bytes = bytes
    }

    /// "SecretKey(AES-128, redacted)".
    public var description: String { "SecretKey(AES-\(bytes.count * 8), redacted)" }
    /// Same as `description`: the key is never shown.
    public var debugDescription: String { description }
}
