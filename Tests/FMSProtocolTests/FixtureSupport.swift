import Foundation
import Testing
@testable import FMSProtocol

/// Access to the known-answer vectors in `Fixtures/` (see `Fixtures/README.md` for how each was made).
enum Fixture {
    /// The 16-, 24- and 32-byte ASCII keys the vectors were encrypted with.
    static let key128Text = "FlashPushKey2019"
    static let key192Text = "FlashPushKey2019AES192!!"
    static let key256Text = "FlashPushKey2019AES256-ThirtyTwo"
    /// A 16-byte key that is not the one the vectors were made with.
    static let wrongKeyText = "WrongKeyWrongKey"

    static func key(_ text: String) throws -> SecretKey {
        try SecretKey(text)
    }

    /// The folder copied into the test bundle.
    static func directory() throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil),
                     "the Fixtures folder is missing from the test bundle")
    }

    /// The bytes of one fixture file.
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = try directory().appendingPathComponent(name)
        return [UInt8](try Data(contentsOf: url))
    }

    /// The expected inflated content of `big.txt.gz`: 5000 identical lines.
    static var bigText: [UInt8] {
        Array(String(repeating: "闪推测试 FlashPush 0123456789\n", count: 5000).utf8)
    }
}

/// Runs a command line tool with arguments and returns its exit status and standard output.
func runTool(_ arguments: [String]) throws -> (status: Int32, output: [UInt8]) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let stdout = Pipe()
    process.standardOutput = stdout
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, [UInt8](data))
}

/// Writes `bytes` to a fresh temporary file and returns its URL.
func temporaryFile(_ bytes: [UInt8], suffix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("fmsprotocol-test-\(UUID().uuidString)\(suffix)")
    try Data(bytes).write(to: url)
    return url
}

/// Parses JSON text strictly, for test inputs that must be valid.
func json(_ text: String, _ options: JSONParser.Options = .strict) throws -> JSONValue {
    try JSONParser.parse(text, options: options)
}
