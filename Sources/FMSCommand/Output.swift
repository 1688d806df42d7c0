import Foundation
import FMSProtocol

/// Writes data to stdout and diagnostics to stderr.
///
/// Data lines are buffered and flushed at exit (and on demand), so a large batch prints fast.
final class Output: @unchecked Sendable {
    // Only used from the command's own task; @unchecked because FileHandle is not Sendable.
    private var buffer: [UInt8] = []
    /// Whether `--json` was given.
    let json: Bool

    /// Creates an output; `json` selects JSON data output.
    init(json: Bool) {
        self.json = json
    }

    /// Appends one line of data.
    func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0A)
        if buffer.count > 1 << 16 { flush() }
    }

    /// Appends a JSON value as one line.
    func json(_ value: JSONValue) {
        JSONWriter.write(value, into: &buffer)
        buffer.append(0x0A)
        if buffer.count > 1 << 16 { flush() }
    }

    /// Writes what is buffered to stdout.
    func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes one diagnostic line to stderr, prefixed with `fms: `.
    static func diagnostic(_ text: String) {
        FileHandle.standardError.write(Data(("fms: " + text + "\n").utf8))
    }
}
