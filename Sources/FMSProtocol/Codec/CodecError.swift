/// Why bytes could not be turned into a message or back.
public enum CodecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The secretKey is not 16, 24 or 32 bytes long.
    case invalidKeyLength(Int)
    /// Ciphertext whose length is not a positive multiple of the AES block size.
    case ciphertextLength(Int)
    /// Decryption produced invalid padding: almost always the wrong secret key.
    case badPadding
    /// The gzip stream ended before its trailer.
    case truncatedGzip
    /// The bytes are not a valid gzip stream (zlib's message attached).
    case corruptGzip(String)
    /// Inflating would exceed the size limit (a compression bomb, or a wrong limit).
    case inflatedTooLarge(limit: Int)
    /// The JSON text is invalid.
    case invalidJSON(JSONSyntaxError)
    /// The cipher library failed in an unexpected way (its message attached).
    case cryptoFailure(String)

    /// A sentence naming what is wrong and, where it helps, what to check.
    public var description: String {
        switch self {
        case .invalidKeyLength(let length):
            return "the secret key is \(length) bytes long; an AES key must be 16, 24 or 32 bytes"
        case .ciphertextLength(let length):
            return "cannot decrypt \(length) bytes: AES ciphertext is a non-empty multiple of 16 bytes"
        case .badPadding:
            return "decryption failed (bad padding): check the secret key"
        case .truncatedGzip:
            return "the gzip data is truncated"
        case .corruptGzip(let reason):
            return "the data is not valid gzip (\(reason))"
        case .inflatedTooLarge(let limit):
            return "the gzip data inflates to more than \(limit) bytes"
        case .invalidJSON(let error):
            return error.description
        case .cryptoFailure(let reason):
            return "AES failure: \(reason)"
        }
    }
}
