import Foundation
import FMSProtocol

/// `fms-bench codec`: the secure-interface codec on one sendBatchFMS request.
///
/// Prints `codec.payload` (sizes), then one `codec.stage` line per stage and one
/// `codec.pipeline` line per composite (seconds per request, thread CPU time, best round).
enum CodecBench {
    static let usage = "codec [--messages 300] [--seconds 6] [--key-length 16] [--dump-json FILE] [--only STAGE,…]"

    static func run(_ options: BenchOptions) {
        let count = options.integer("messages", default: ProtocolText.maximumBatchSize)
        let seconds = options.double("seconds", default: 6)
        let keyLength = options.integer("key-length", default: 16)
        let key: SecretKey
        do {
            key = try SecretKey(bytes: (0..<keyLength).map { UInt8(ascii: "a") + UInt8($0 % 26) })
        } catch {
            fail("--key-length \(keyLength): \(error)", status: 64)
        }

        let request = BatchSendRequest(templateId: "9178000000000000001", entries: Payload.entries(count: count))
        let envelope = RequestEnvelope(requestTime: 1_780_000_000_000, requestValidPeriod: 60)
        let tree = envelope.wrap(request.payload)
        let json = JSONWriter.bytes(of: tree)
        let compressed: [UInt8]
        let sealed: [UInt8]
        do {
            compressed = try Gzip.compress(json)
            sealed = try AESECB.encrypt(compressed, key: key)
            // Check the round trip before timing anything.
            let back = try SecureEnvelope.openJSON(sealed, key: key, gzip: true)
            guard try BatchSendRequest(json: back) == request else { fail("codec round trip changed the request") }
        } catch {
            fail("codec round trip failed: \(error)")
        }
        if let path = options.string("dump-json") {
            do {
                try Data(json).write(to: URL(fileURLWithPath: path))
            } catch {
                fail("cannot write \(path): \(error)")
            }
        }
        emit([("bench", .string("codec.payload")), ("messages", .integer(Int64(count))),
              ("jsonBytes", .integer(Int64(json.count))), ("gzipBytes", .integer(Int64(compressed.count))),
              ("cipherBytes", .integer(Int64(sealed.count))), ("keyBits", .integer(Int64(keyLength * 8))),
              ("gzipLevel", .integer(6)), ("clock", .string("thread-cpu, best of 10 rounds"))])

        // Eleven measurements share the budget; the composite ones get more.
        let unit = seconds / 16
        let only = options.string("only").map { Set($0.split(separator: ",").map(String.init)) }
        func wanted(_ name: String) -> Bool { only?.contains(name) ?? true }
        func report(_ kind: String, _ name: String, _ timing: @autoclosure () throws -> Timing) rethrows {
            guard wanted(name) else { return }
            let timing = try timing()
            emit([("bench", .string(kind)), ("name", .string(name)), ("seconds", number(timing.cpuSeconds)),
                  ("wallSeconds", number(timing.wallSeconds)), ("iterations", .integer(Int64(timing.iterations))),
                  ("jsonMBps", number(Double(json.count) / timing.cpuSeconds / 1e6))])
        }
        do {
            let parsed = try JSONParser.parse(json, options: .tolerant)
            report("codec.stage", "model-to-tree", measure(budget: unit) {
                if case .object(let members) = envelope.wrap(request.payload) { return members.count }
                return 0
            })
            report("codec.stage", "json-write", measure(budget: unit) { JSONWriter.bytes(of: tree).count })
            try report("codec.stage", "gzip", try measure(budget: unit) { try Gzip.compress(json).count })
            try report("codec.stage", "aes-encrypt", try measure(budget: unit) { try AESECB.encrypt(compressed, key: key).count })
            try report("codec.stage", "aes-decrypt", try measure(budget: unit) { try AESECB.decrypt(sealed, key: key).count })
            try report("codec.stage", "gunzip", try measure(budget: unit) { try Gzip.decompress(compressed).count })
            try report("codec.stage", "json-parse", try measure(budget: unit) {
                if case .object(let members) = try JSONParser.parse(json, options: .tolerant) { return members.count }
                return 0
            })
            try report("codec.stage", "tree-to-model", try measure(budget: unit) { try BatchSendRequest(json: parsed).entries.count })

            // The byte pipeline: gzip + AES, both ways (what SecureEnvelope does).
            try report("codec.pipeline", "bytes", try measure(budget: 2 * unit) {
                let body = try SecureEnvelope.seal(json, key: key, gzip: true)
                return try SecureEnvelope.open(body, key: key, gzip: true).count
            })
            // The full pipeline: JSON write + gzip + AES, then AES decrypt + gunzip + JSON parse.
            try report("codec.pipeline", "full", try measure(budget: 3 * unit) {
                let body = try SecureEnvelope.seal(JSONWriter.bytes(of: tree), key: key, gzip: true)
                if case .object(let members) = try SecureEnvelope.openJSON(body, key: key, gzip: true) { return members.count }
                return 0
            })
            // End to end: the request model in, the request model out (what client + gateway really do).
            try report("codec.pipeline", "model-to-model", try measure(budget: 3 * unit) {
                let body = try SecureEnvelope.seal(envelope.wrap(request.payload), key: key, gzip: true)
                return try BatchSendRequest(json: SecureEnvelope.openJSON(body, key: key, gzip: true)).entries.count
            })
        } catch {
            fail("codec benchmark failed: \(error)")
        }
    }
}
