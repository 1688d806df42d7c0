import Foundation
import FMSProtocol

/// Writes data to stdout and diagnostics to stderr.
///
/// Data lines are buffered and flushed at exit (and when the buffer fills), so a large batch
/// prints fast. A failed write (a full disk, a closed pipe) is remembered, so the command
/// can exit 74 instead of crashing.
final class Output: @unchecked Sendable {
    // Only used from the command's own task; @unchecked because it holds a mutable buffer.
    private var buffer: [UInt8] = []
    /// Whether `--json` was given.
    let json: Bool
    /// The first write error, as text, if any.
    private(set) var writeError: String?

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
        defer { buffer.removeAll(keepingCapacity: true) }
        guard writeError == nil else { return }
        if let failure = Output.writeAll(buffer, to: STDOUT_FILENO) { writeError = failure }
    }

    /// Writes one diagnostic line to stderr, prefixed with `fms: `.
    static func diagnostic(_ text: String) {
        _ = writeAll(Array(("fms: " + text + "\n").utf8), to: STDERR_FILENO)
    }

    /// Writes all of `bytes` to `descriptor`, retrying short writes and EINTR; returns the error text on failure.
    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> String? {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                write(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += written
        }
        return nil
    }
}
