import Foundation
import Testing

/// `make demo`'s script, run as `make demo` runs it: it must show every kind of alert and end by itself.
@Suite("the watcher demo")
struct DemoTests {
    @Test("examples/demo/watch-demo.sh shows each alert, the cooldown and the escalation, then ends with a summary")
    func watchDemo() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("examples/demo/watch-demo.sh").path]
        process.environment = ["PATH": FMSBinary.searchPath, "FMS_BIN": FMSBinary.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let buffer = PipeBuffer(reading: output.fileHandleForReading)
        let finished = buffer.waitForEnd(timeout: 90)
        if !finished { process.terminate() }
        process.waitUntilExit()
        let text = buffer.text
        #expect(finished && process.terminationStatus == 0, "\(text)")
        for expected in ["ALERT  file dropped: orders-0001.csv", "ALERT  log error:", "QUIET  suppressed: key 'app-errors'",
                         "REPORT FAIL_MOBILE for 13900000002: escalating to 13900000003", "REPORT delivered to 13900000003",
                         "is below 5 -> 13800000009", "TIMER  every 6s, run 1", "closed: and 3 more",
                         "stopped: ", "3 suppressed by cooldowns", "dead\t0", "pending\t0"] {
            #expect(text.contains(expected), "the demo did not show '\(expected)':\n\(text)")
        }
        #expect(!text.contains(" error "), "no handler failed:\n\(text)")
        #expect(!text.contains("sent\t0\n"), "the outbox of the simulator holds what was sent:\n\(text)")
    }
}
