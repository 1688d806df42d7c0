import Foundation
import Testing
@testable import FMSProtocol

/// One AES key size with the openssl vectors made for it.
struct KeyVector: Sendable, CustomTestStringConvertible {
    let keyText: String
    let bits: Int
    /// `batch.json` encrypted (no gzip).
    let plainVector: String
    /// `batch.json.gz` encrypted (the full secure pipeline).
    let gzipVector: String

    var testDescription: String { "AES-\(bits)" }

    static let all: [KeyVector] = [
        KeyVector(keyText: Fixture.key128Text, bits: 128, plainVector: "batch.json.aes128", gzipVector: "batch.json.gz.aes128"),
        KeyVector(keyText: Fixture.key192Text, bits: 192, plainVector: "batch.json.aes192", gzipVector: "batch.json.gz.aes192"),
        KeyVector(keyText: Fixture.key256Text, bits: 256, plainVector: "batch.json.aes256", gzipVector: "batch.json.gz.aes256"),
    ]
}

@Suite("AES/ECB known answers (openssl enc)")
struct AESKnownAnswerTests {
    @Test("the fixture keys have the byte lengths of their AES variant", arguments: KeyVector.all)
    func keyLengths(_ vector: KeyVector) throws {
        let key = try Fixture.key(vector.keyText)
        #expect(key.bytes.count * 8 == vector.bits)
        #expect(key.bytes == Array(vector.keyText.utf8))
    }

    @Test("encrypt equals openssl's ciphertext byte for byte", arguments: KeyVector.all)
    func encryptMatchesOpenSSL(_ vector: KeyVector) throws {
        let key = try Fixture.key(vector.keyText)
        let plaintext = try Fixture.bytes("batch.json")
        let expected = try Fixture.bytes(vector.plainVector)
        let ciphertext = try AESECB.encrypt(plaintext, key: key)
        #expect(ciphertext.count == (plaintext.count / 16 + 1) * 16)
        #expect(ciphertext == expected)
    }

    @Test("decrypt of openssl's ciphertext gives the plaintext back", arguments: KeyVector.all)
    func decryptOpenSSL(_ vector: KeyVector) throws {
        let key = try Fixture.key(vector.keyText)
        let decrypted = try AESECB.decrypt(try Fixture.bytes(vector.plainVector), key: key)
        #expect(decrypted == (try Fixture.bytes("batch.json")))
    }

    @Test("encrypting the gzip file equals openssl's full-pipeline vector", arguments: KeyVector.all)
    func encryptGzipMatchesOpenSSL(_ vector: KeyVector) throws {
        let key = try Fixture.key(vector.keyText)
        let ciphertext = try AESECB.encrypt(try Fixture.bytes("batch.json.gz"), key: key)
        #expect(ciphertext == (try Fixture.bytes(vector.gzipVector)))
    }

    @Test("empty plaintext encrypts to one block of padding")
    func emptyPlaintext() throws {
        let key = try Fixture.key(Fixture.key128Text)
        let expected = try Fixture.bytes("empty.bin.aes128")
        #expect(expected.count == 16)
        #expect(try AESECB.encrypt([], key: key) == expected)
        #expect(try AESECB.decrypt(expected, key: key) == [])
    }

    @Test("a 16-byte plaintext gains a whole block of padding")
    func sixteenBytePlaintext() throws {
        let key = try Fixture.key(Fixture.key128Text)
        let plaintext = try Fixture.bytes("sixteen.txt")
        #expect(plaintext == Array("0123456789ABCDEF".utf8))
        let expected = try Fixture.bytes("sixteen.txt.aes128")
        #expect(expected.count == 32)
        let ciphertext = try AESECB.encrypt(plaintext, key: key)
        #expect(ciphertext == expected)
        // ECB: the trailing all-padding block is the same as the whole ciphertext of the empty input.
        #expect(Array(ciphertext.suffix(16)) == (try Fixture.bytes("empty.bin.aes128")))
        #expect(try AESECB.decrypt(expected, key: key) == plaintext)
    }

    @Test("ECB: equal plaintext blocks give equal ciphertext blocks, and there is no IV or salt")
    func ecbIsDeterministic() throws {
        let key = try Fixture.key(Fixture.key128Text)
        let block = Array("0123456789ABCDEF".utf8)
        let twice = try AESECB.encrypt(block + block, key: key)
        #expect(twice.count == 48)
        #expect(Array(twice[0..<16]) == Array(twice[16..<32]))
        #expect(Array(twice[0..<16]) == Array((try Fixture.bytes("sixteen.txt.aes128")).prefix(16)))
        #expect(try AESECB.encrypt(block, key: key) == (try AESECB.encrypt(block, key: key)))
    }

    @Test("encrypt/decrypt round trips every length from 0 to 48 bytes", arguments: [Fixture.key128Text, Fixture.key192Text, Fixture.key256Text])
    func roundTripLengths(_ keyText: String) throws {
        let key = try Fixture.key(keyText)
        for length in 0...48 {
            let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let ciphertext = try AESECB.encrypt(plaintext, key: key)
            #expect(ciphertext.count == (length / 16 + 1) * 16, "length \(length)")
            #expect(try AESECB.decrypt(ciphertext, key: key) == plaintext, "length \(length)")
        }
    }
}

@Suite("gzip known answers (GNU gzip)")
struct GzipKnownAnswerTests {
    @Test("decompress of `gzip -n` output gives batch.json")
    func decompressGzipN() throws {
        let inflated = try Gzip.decompress(try Fixture.bytes("batch.json.gz"))
        #expect(inflated == (try Fixture.bytes("batch.json")))
    }

    @Test("decompress handles a header with a stored file name and mtime (gzip -N -9)")
    func decompressNamedHeader() throws {
        let gz = try Fixture.bytes("batch.json.named.gz")
        #expect(gz[3] & 0x08 == 0x08, "the FNAME flag should be set in this fixture")
        #expect(try Gzip.decompress(gz) == (try Fixture.bytes("batch.json")))
    }

    @Test("decompress of a 170 KB output grows its buffer correctly")
    func decompressLarge() throws {
        let inflated = try Gzip.decompress(try Fixture.bytes("big.txt.gz"))
        let expected = Fixture.bigText
        #expect(inflated.count == expected.count)
        #expect(inflated == expected)
    }

    @Test("a limit equal to the exact output size is enough")
    func exactLimit() throws {
        let expected = Fixture.bigText
        #expect(try Gzip.decompress(try Fixture.bytes("big.txt.gz"), limit: expected.count) == expected)
        let batch = try Fixture.bytes("batch.json")
        #expect(try Gzip.decompress(try Fixture.bytes("batch.json.gz"), limit: batch.count) == batch)
    }

    @Test("compress output has a gzip header and our own decompress reads it back",
          arguments: [Int32(-1), 0, 1, 9])
    func compressRoundTrip(level: Int32) throws {
        let batch = try Fixture.bytes("batch.json")
        let gz = try Gzip.compress(batch, level: level)
        #expect(Array(gz.prefix(3)) == [0x1F, 0x8B, 0x08], "gzip magic and deflate method")
        // ISIZE trailer: the input length, little endian.
        let isize = gz.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(isize == UInt32(batch.count))
        #expect(try Gzip.decompress(gz) == batch)
    }

    @Test("compress output is accepted by the `gzip -dc` command line",
          arguments: [("batch.json", false), ("empty.bin", false), ("big", true)])
    func compressReadableByGzipTool(name: String, useBigText: Bool) throws {
        let original = useBigText ? Fixture.bigText : try Fixture.bytes(name)
        let compressed = try Gzip.compress(original)
        let file = try temporaryFile(compressed, suffix: ".gz")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try runTool(["gzip", "-dc", file.path])
        #expect(result.status == 0)
        #expect(result.output == original)
    }

    @Test("`gzip -t` accepts our compress output (CRC and length trailer are right)")
    func gzipIntegrityCheck() throws {
        let file = try temporaryFile(try Gzip.compress(try Fixture.bytes("batch.json")), suffix: ".gz")
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try runTool(["gzip", "-t", file.path]).status == 0)
        // Control: the tool does notice a corrupted CRC, so the check above can fail.
        var broken = try Gzip.compress(try Fixture.bytes("batch.json"))
        broken[broken.count - 8] ^= 0xFF
        let brokenFile = try temporaryFile(broken, suffix: ".gz")
        defer { try? FileManager.default.removeItem(at: brokenFile) }
        #expect(try runTool(["gzip", "-t", brokenFile.path]).status != 0)
    }
}

@Suite("SecureEnvelope")
struct SecureEnvelopeTests {
    @Test("open of the openssl full-pipeline vector gives the JSON", arguments: KeyVector.all)
    func openFullPipeline(_ vector: KeyVector) throws {
        let key = try Fixture.key(vector.keyText)
        let opened = try SecureEnvelope.open(try Fixture.bytes(vector.gzipVector), key: key, gzip: true)
        #expect(opened == (try Fixture.bytes("batch.json")))
    }

    @Test("open without gzip of the plain vector gives the JSON", arguments: KeyVector.all)
    func openPlain(_ vector: KeyVector) throws {
        let key = try Fixture.key(vector.keyText)
        let opened = try SecureEnvelope.open(try Fixture.bytes(vector.plainVector), key: key, gzip: false)
        #expect(opened == (try Fixture.bytes("batch.json")))
    }

    @Test("openJSON parses the full-pipeline vector into the batch request")
    func openJSON() throws {
        let key = try Fixture.key(Fixture.key128Text)
        let value = try SecureEnvelope.openJSON(try Fixture.bytes("batch.json.gz.aes128"), key: key, gzip: true)
        let request = try BatchSendRequest(json: value)
        #expect(request.templateId == "7883922")
        #expect(request.entries.map(\.mobile) == ["15900000001", "13700000002", "13500000003"])
        #expect(request.entries[2].content["name"] == "张三丰 \"老\" a/b")
        #expect(value["requestTime"] == .integer(1_490_588_340_964))
    }

    @Test("seal then open round trips, with and without gzip", arguments: KeyVector.all, [true, false])
    func sealOpenRoundTrip(_ vector: KeyVector, gzip: Bool) throws {
        let key = try Fixture.key(vector.keyText)
        let batch = try Fixture.bytes("batch.json")
        let sealed = try SecureEnvelope.seal(batch, key: key, gzip: gzip)
        #expect(sealed.count % 16 == 0)
        #expect(sealed != batch)
        #expect(try SecureEnvelope.open(sealed, key: key, gzip: gzip) == batch)
    }

    @Test("seal without gzip is exactly openssl's ciphertext", arguments: KeyVector.all)
    func sealPlainIsOpenSSL(_ vector: KeyVector) throws {
        let key = try Fixture.key(vector.keyText)
        #expect(try SecureEnvelope.seal(try Fixture.bytes("batch.json"), key: key, gzip: false)
                == (try Fixture.bytes(vector.plainVector)))
    }

    @Test("seal with gzip is AES over a gzip member of the JSON")
    func sealGzipLayering() throws {
        let key = try Fixture.key(Fixture.key128Text)
        let batch = try Fixture.bytes("batch.json")
        let sealed = try SecureEnvelope.seal(batch, key: key, gzip: true)
        let inner = try AESECB.decrypt(sealed, key: key)
        #expect(Array(inner.prefix(2)) == [0x1F, 0x8B])
        #expect(try Gzip.decompress(inner) == batch)
    }

    @Test("seal of a JSONValue writes the same bytes as JSONWriter")
    func sealValue() throws {
        let key = try Fixture.key(Fixture.key256Text)
        let value = try json(String(decoding: try Fixture.bytes("batch.json"), as: UTF8.self))
        let sealed = try SecureEnvelope.seal(value, key: key, gzip: false)
        #expect(sealed == (try Fixture.bytes("batch.json.aes256")))
    }

    @Test("opening the gzip vector with gzip off yields the gzip bytes, not JSON")
    func gzipFlagMismatch() throws {
        let key = try Fixture.key(Fixture.key128Text)
        let opened = try SecureEnvelope.open(try Fixture.bytes("batch.json.gz.aes128"), key: key, gzip: false)
        #expect(opened == (try Fixture.bytes("batch.json.gz")))
        let error = #expect(throws: CodecError.self) {
            try SecureEnvelope.openJSON(try Fixture.bytes("batch.json.gz.aes128"), key: key, gzip: false)
        }
        guard case .invalidJSON(let syntax)? = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
        #expect(syntax.offset == 0)
    }

    @Test("opening the plain vector with gzip on is a corrupt gzip")
    func gzipOnOverPlain() throws {
        let key = try Fixture.key(Fixture.key128Text)
        let error = #expect(throws: CodecError.self) {
            try SecureEnvelope.open(try Fixture.bytes("batch.json.aes128"), key: key, gzip: true)
        }
        guard case .corruptGzip? = error else {
            Issue.record("expected corruptGzip, got \(String(describing: error))")
            return
        }
    }

    @Test("open passes the inflate limit on")
    func openInflateLimit() throws {
        let key = try Fixture.key(Fixture.key128Text)
        #expect(throws: CodecError.inflatedTooLarge(limit: 100)) {
            try SecureEnvelope.open(try Fixture.bytes("batch.json.gz.aes128"), key: key, gzip: true, inflateLimit: 100)
        }
    }
}
