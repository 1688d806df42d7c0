import Foundation
import Testing
@testable import FMSProtocol

@Suite("SecretKey")
struct SecretKeyTests {
    /// Key texts of lengths that are no AES key size; each is made of distinctive text
    /// so that a leak into an error message would be noticed.
    static let badKeys: [String] = [
        "",
        "LeakyKey-15byte",                       // 15
        "LeakyKey-17bytes!",                     // 17
        "LeakyKey-33bytes-LeakyKey-33bytes",     // 33
        "LeakyKey-20-bytes!!!",                  // 20
        "LeakyKey-64-bytes-LeakyKey-64-bytes-LeakyKey-64-bytes-LeakyKey-6", // 64
    ]

    @Test("a key that is not 16, 24 or 32 bytes is invalidKeyLength", arguments: badKeys)
    func invalidLength(_ text: String) throws {
        #expect(throws: CodecError.invalidKeyLength(text.utf8.count)) { try SecretKey(text) }
        #expect(throws: CodecError.invalidKeyLength(text.utf8.count)) { try SecretKey(bytes: Array(text.utf8)) }
    }

    @Test("the invalid-length error's description never contains the key", arguments: badKeys.filter { !$0.isEmpty })
    func invalidLengthDescriptionRedacted(_ text: String) throws {
        let error = #expect(throws: CodecError.self) { try SecretKey(text) }
        let description = try #require(error).description
        #expect(!description.contains(text))
        #expect(!description.contains("LeakyKey"))
        #expect(description.contains("\(text.utf8.count) bytes"))
        #expect(!String(describing: try #require(error)).contains("LeakyKey"))
    }

    @Test("the named lengths 0, 15, 17 and 33 are all refused", arguments: [0, 15, 17, 33])
    func namedLengths(_ count: Int) {
        #expect(throws: CodecError.invalidKeyLength(count)) { try SecretKey(bytes: [UInt8](repeating: 0x41, count: count)) }
    }

    @Test("16, 24 and 32 bytes are accepted byte for byte", arguments: [16, 24, 32])
    func validLengths(_ count: Int) throws {
        let bytes = (0..<count).map { UInt8($0 + 0x41) }
        let key = try SecretKey(bytes: bytes)
        #expect(key.bytes == bytes)
    }

    @Test("description and debugDescription are redacted", arguments: [Fixture.key128Text, Fixture.key192Text, Fixture.key256Text])
    func redacted(_ text: String) throws {
        let key = try SecretKey(text)
        let bits = text.utf8.count * 8
        #expect(key.description == "SecretKey(AES-\(bits), redacted)")
        #expect(key.debugDescription == key.description)
        #expect(!"\(key)".contains("FlashPush"))
        #expect(!String(reflecting: key).contains("FlashPush"))
        #expect(!"\([key])".contains("FlashPush"))
    }

    @Test("non-ASCII key text is measured in UTF-8 bytes")
    func utf8Length() throws {
        // 8 Chinese characters = 24 UTF-8 bytes: a valid AES-192 key.
        let key = try SecretKey("闪推闪推闪推闪推")
        #expect(key.bytes.count == 24)
        // 6 Chinese characters = 18 bytes.
        #expect(throws: CodecError.invalidKeyLength(18)) { try SecretKey("闪推闪推闪推") }
    }

    @Test("a trailing line feed, as key files have, is trimmed")
    func trailingLineFeed() throws {
        #expect(try SecretKey(Fixture.key128Text + "\n").bytes == Array(Fixture.key128Text.utf8))
        #expect(try SecretKey(Fixture.key128Text + "\r").bytes == Array(Fixture.key128Text.utf8))
        // Leading or inner whitespace is part of the key: not trimmed.
        #expect(throws: CodecError.invalidKeyLength(17)) { try SecretKey(" " + Fixture.key128Text) }
    }

    @Test("a trailing CRLF (Windows key file) is trimmed")
    func trailingCRLF() throws {
        let key = try SecretKey(Fixture.key128Text + "\r\n")
        #expect(key.bytes == Array(Fixture.key128Text.utf8))
    }
}

@Suite("AES error paths")
struct AESErrorTests {
    @Test("ciphertext that is not a positive multiple of 16 bytes is ciphertextLength", arguments: [0, 1, 15, 17, 31, 33])
    func ciphertextLength(_ count: Int) throws {
        let key = try Fixture.key(Fixture.key128Text)
        #expect(throws: CodecError.ciphertextLength(count)) {
            try AESECB.decrypt([UInt8](repeating: 0xAB, count: count), key: key)
        }
    }

    @Test("a truncated openssl vector is ciphertextLength")
    func truncatedVector() throws {
        let key = try Fixture.key(Fixture.key128Text)
        let vector = try Fixture.bytes("batch.json.aes128")
        #expect(throws: CodecError.ciphertextLength(vector.count - 1)) {
            try AESECB.decrypt(Array(vector.dropLast()), key: key)
        }
    }

    @Test("a block that decrypts to a zero padding byte is badPadding (openssl also refuses it)")
    func zeroPaddingByte() throws {
        let key = try Fixture.key(Fixture.key128Text)
        #expect(throws: CodecError.badPadding) {
            try AESECB.decrypt(try Fixture.bytes("zeros16.nopad.aes128"), key: key)
        }
    }

    @Test("the wrong key is badPadding (deterministic vector: last byte decrypts to 0xd9)")
    func wrongKey() throws {
        let wrong = try Fixture.key(Fixture.wrongKeyText)
        #expect(throws: CodecError.badPadding) {
            try AESECB.decrypt(try Fixture.bytes("batch.json.aes128"), key: wrong)
        }
        #expect(throws: CodecError.badPadding) {
            try SecureEnvelope.open(try Fixture.bytes("batch.json.aes128"), key: wrong, gzip: false)
        }
    }

    @Test("a valid key of another size on the 128-bit vector is badPadding",
          arguments: [Fixture.key192Text, Fixture.key256Text])
    func wrongKeySize(_ keyText: String) throws {
        // openssl agrees (exit 1, "bad decrypt"):
        //   openssl enc -d -aes-192-ecb -K 466c617368507573684b6579323031394145533139322121 -in batch.json.aes128
        //   openssl enc -d -aes-256-ecb -K 466c617368507573684b6579323031394145533235362d54686972747954776f -in batch.json.aes128
        let key = try Fixture.key(keyText)
        #expect(throws: CodecError.badPadding) {
            try AESECB.decrypt(try Fixture.bytes("batch.json.aes128"), key: key)
        }
    }

    @Test("the badPadding description points at the key without showing it")
    func badPaddingDescription() {
        #expect(CodecError.badPadding.description.contains("secret key"))
        #expect(CodecError.ciphertextLength(15).description.contains("15"))
    }
}

@Suite("gzip error paths")
struct GzipErrorTests {
    @Test("cutting the 8-byte trailer is truncatedGzip")
    func cutTrailer() throws {
        let gz = try Fixture.bytes("batch.json.gz")
        #expect(throws: CodecError.truncatedGzip) { try Gzip.decompress(Array(gz.dropLast(8))) }
    }

    @Test("every truncation of the gzip file is truncatedGzip",
          arguments: [1, 2, 4, 9, 10, 50, 115, 200, 221, 226, 229])
    func truncations(_ keep: Int) throws {
        let gz = try Fixture.bytes("batch.json.gz")
        #expect(gz.count == 230)
        #expect(throws: CodecError.truncatedGzip) { try Gzip.decompress(Array(gz.prefix(keep))) }
    }

    @Test("half of the gzip file is truncatedGzip, for small and large outputs",
          arguments: ["batch.json.gz", "big.txt.gz", "batch.json.named.gz"])
    func cutToHalf(_ name: String) throws {
        let gz = try Fixture.bytes(name)
        #expect(throws: CodecError.truncatedGzip) { try Gzip.decompress(Array(gz.prefix(gz.count / 2))) }
    }

    @Test("empty input is truncatedGzip")
    func empty() {
        #expect(throws: CodecError.truncatedGzip) { try Gzip.decompress([]) }
    }

    @Test("garbage bytes are corruptGzip",
          arguments: [Array("not gzip at all, just some text".utf8),
                      Array("{\"templateId\":\"1\"}".utf8),
                      [UInt8](repeating: 0xFF, count: 64),
                      [0x1F, 0x8B, 0x07, 0x00, 0, 0, 0, 0, 0, 3, 0xAA, 0xBB]])   // method 7, not deflate
    func garbage(_ bytes: [UInt8]) {
        let error = #expect(throws: CodecError.self) { try Gzip.decompress(bytes) }
        guard case .corruptGzip(let reason)? = error else {
            Issue.record("expected corruptGzip, got \(String(describing: error))")
            return
        }
        #expect(!reason.isEmpty)
    }

    @Test("a corrupted CRC trailer is corruptGzip")
    func badCRC() throws {
        var gz = try Fixture.bytes("batch.json.gz")
        gz[gz.count - 8] ^= 0x01
        let error = #expect(throws: CodecError.self) { try Gzip.decompress(gz) }
        guard case .corruptGzip? = error else {
            Issue.record("expected corruptGzip, got \(String(describing: error))")
            return
        }
    }

    @Test("trailing bytes after the gzip member are corruptGzip",
          arguments: [[0x00], Array("garbage".utf8), [UInt8](repeating: 0, count: 16)])
    func trailingBytes(_ extra: [UInt8]) throws {
        let gz = try Fixture.bytes("batch.json.gz")
        let error = #expect(throws: CodecError.self) { try Gzip.decompress(gz + extra) }
        guard case .corruptGzip(let reason)? = error else {
            Issue.record("expected corruptGzip, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("trailing"))
    }

    @Test("a second concatenated gzip member is refused as trailing bytes")
    func twoMembers() throws {
        let gz = try Fixture.bytes("batch.json.gz")
        let error = #expect(throws: CodecError.self) { try Gzip.decompress(gz + gz) }
        guard case .corruptGzip? = error else {
            Issue.record("expected corruptGzip, got \(String(describing: error))")
            return
        }
    }

    @Test("an inflate limit smaller than the output is inflatedTooLarge",
          arguments: [("batch.json.gz", 1), ("batch.json.gz", 100), ("batch.json.gz", 358),
                      ("big.txt.gz", 4096), ("big.txt.gz", 100_000), ("big.txt.gz", 169_999)])
    func tooLarge(name: String, limit: Int) throws {
        #expect(throws: CodecError.inflatedTooLarge(limit: limit)) {
            try Gzip.decompress(try Fixture.bytes(name), limit: limit)
        }
    }

    @Test("big.txt.gz inflates to exactly 170000 bytes (so the limits above straddle it)")
    func bigSize() throws {
        #expect(Fixture.bigText.count == 170_000)
        #expect(try Gzip.decompress(try Fixture.bytes("big.txt.gz"), limit: 170_000).count == 170_000)
        #expect(try Gzip.decompress(try Fixture.bytes("big.txt.gz"), limit: 170_001).count == 170_000)
    }

    @Test("a gzip member of empty data inflates to nothing")
    func emptyMember() throws {
        let gz = try Gzip.compress([])
        #expect(try Gzip.decompress(gz) == [])
        #expect(try Gzip.decompress(gz, limit: 1) == [])
    }

    @Test("a zero limit is enough for a member of empty data")
    func zeroLimitEmptyMember() throws {
        let gz = try Gzip.compress([])
        let inflated = try Gzip.decompress(gz, limit: 0)
        #expect(inflated == [])
        // Control: a non-empty member with limit 0 really is too large.
        #expect(throws: CodecError.inflatedTooLarge(limit: 0)) { try Gzip.decompress(try Fixture.bytes("batch.json.gz"), limit: 0) }
    }

    @Test("truncatedGzip and inflatedTooLarge describe themselves")
    func descriptions() {
        #expect(CodecError.truncatedGzip.description.contains("truncated"))
        #expect(CodecError.inflatedTooLarge(limit: 1234).description.contains("1234"))
        #expect(CodecError.corruptGzip("zlib says no").description.contains("zlib says no"))
    }
}
