/// The byte pipeline of the secure interface, the same in both directions.
///
/// Sealing: JSON bytes → gzip (when `gzip: on`) → AES/ECB/PKCS5. Opening reverses it.
/// The client seals requests and opens responses; the gateway opens requests and seals
/// responses. The response is compressed only if the request said `gzip: on`.
public enum SecureEnvelope {
    /// Compresses (optionally) and encrypts `json`.
    public static func seal(_ json: [UInt8], key: SecretKey, gzip: Bool, level: Int32 = Gzip.defaultLevel) throws(CodecError) -> [UInt8] {
        let plain = gzip ? try Gzip.compress(json, level: level) : json
        return try AESECB.encrypt(plain, key: key)
    }

    /// Decrypts and (optionally) inflates `body`, returning the JSON bytes.
    public static func open(_ body: [UInt8], key: SecretKey, gzip: Bool, inflateLimit: Int = Gzip.defaultInflateLimit) throws(CodecError) -> [UInt8] {
        let plain = try AESECB.decrypt(body, key: key)
        return gzip ? try Gzip.decompress(plain, limit: inflateLimit) : plain
    }

    /// Seals a JSON value.
    public static func seal(_ value: JSONValue, key: SecretKey, gzip: Bool, level: Int32 = Gzip.defaultLevel) throws(CodecError) -> [UInt8] {
        try seal(JSONWriter.bytes(of: value), key: key, gzip: gzip, level: level)
    }

    /// Opens a body and parses its JSON (tolerating trailing commas, as vendor answers have).
    public static func openJSON(_ body: [UInt8], key: SecretKey, gzip: Bool, options: JSONParser.Options = .tolerant) throws(CodecError) -> JSONValue {
        let bytes = try open(body, key: key, gzip: gzip)
        do {
            return try JSONParser.parse(bytes, options: options)
        } catch {
            throw CodecError.invalidJSON(error)
        }
    }
}
