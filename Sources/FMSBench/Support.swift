import Foundation
import Glibc
import FMSProtocol

/// Clocks, option parsing and the JSON-lines output of `fms-bench`.

/// Something the optimizer must not throw away: every measured operation adds to it.
nonisolated(unsafe) var benchSink = 0

enum BenchClock {
    /// Monotonic wall-clock seconds.
    static func wall() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// CPU seconds (user + system) of the calling thread: robust against other load on the machine.
    static func threadCPU() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// CPU seconds (user + system) of this whole process.
    static func processCPU() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
    }

    /// CPU seconds (user + system) of another process, from /proc/PID/stat; nil when unreadable.
    static func processCPU(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory of a process in bytes, from /proc/PID/status; nil when unreadable.
    static func residentBytes(pid: Int32) -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.split(separator: " ").dropFirst().first
            return digits.flatMap { Int64($0) }.map { $0 * 1024 }
        }
        return nil
    }
}

/// The best per-operation time over several rounds.
struct Timing {
    /// CPU seconds of this thread per operation (the figure reported).
    var cpuSeconds: Double
    /// Wall-clock seconds per operation in the same round (for information).
    var wallSeconds: Double
    /// Operations run, all rounds together.
    var iterations: Int
}

/// Runs `operation` for about `budget` CPU seconds split into `rounds` rounds and keeps the
/// fastest round: the least disturbed by other work on the machine.
func measure(budget: Double, rounds: Int = 10, _ operation: () throws -> Int) rethrows -> Timing {
    for _ in 0..<3 { benchSink &+= try operation() }  // warm-up
    var best = Timing(cpuSeconds: .infinity, wallSeconds: .infinity, iterations: 0)
    let perRound = budget / Double(rounds)
    for _ in 0..<rounds {
        let cpuStart = BenchClock.threadCPU()
        let wallStart = BenchClock.wall()
        var count = 0
        var cpuElapsed = 0.0
        repeat {
            benchSink &+= try operation()
            count += 1
            cpuElapsed = BenchClock.threadCPU() - cpuStart
        } while (cpuElapsed < perRound || count < 3) && count < 1_000_000
        let wallElapsed = BenchClock.wall() - wallStart
        best.iterations += count
        if cpuElapsed / Double(count) < best.cpuSeconds {
            best.cpuSeconds = cpuElapsed / Double(count)
            best.wallSeconds = wallElapsed / Double(count)
        }
    }
    return best
}

/// Writes one result as a single line of JSON on stdout.
func emit(_ members: [(String, JSONValue)]) {
    let line = JSONWriter.string(of: .object(members.map { JSONMember($0.0, $0.1) }))
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// A JSON number from a Double (rounded to 6 significant decimals for readability).
func number(_ value: Double) -> JSONValue {
    guard value.isFinite else { return .null }
    if value == value.rounded(), abs(value) < 1e15 { return .integer(Int64(value)) }
    let magnitude = value == 0 ? 0 : Int(floor(log10(abs(value))))
    let scale = pow(10.0, Double(5 - magnitude))
    return .double((value * scale).rounded() / scale)
}

/// Prints a message on stderr and exits with status 1 (or `status`).
func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("fms-bench: \(message)\n".utf8))
    exit(status)
}

/// `--name value` options and `--flag` switches after the subcommand.
struct BenchOptions {
    private var values: [String: String] = [:]

    init(_ arguments: ArraySlice<String>, known: Set<String>) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            guard argument.hasPrefix("--") else { fail("unexpected argument '\(argument)'", status: 64) }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard known.contains(name) else { fail("unknown option --\(name)", status: 64) }
            if value == nil {
                guard let next = iterator.next() else { fail("--\(name) needs a value", status: 64) }
                value = next
            }
            values[name] = value
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func required(_ name: String) -> String {
        guard let value = values[name] else { fail("--\(name) is required", status: 64) }
        return value
    }

    func double(_ name: String, default fallback: Double) -> Double {
        guard let text = values[name] else { return fallback }
        guard let value = Double(text), value > 0 else { fail("--\(name) '\(text)' is not a positive number", status: 64) }
        return value
    }

    func integer(_ name: String, default fallback: Int) -> Int {
        guard let text = values[name] else { return fallback }
        guard let value = Int(text), value > 0 else { fail("--\(name) '\(text)' is not a positive integer", status: 64) }
        return value
    }

    func integers(_ name: String, default fallback: [Int]) -> [Int] {
        guard let text = values[name] else { return fallback }
        let list = text.split(separator: ",").map { Int($0) }
        guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) > 0 }) else {
            fail("--\(name) '\(text)' is not a comma-separated list of positive integers", status: 64)
        }
        return list.map { $0! }
    }
}
