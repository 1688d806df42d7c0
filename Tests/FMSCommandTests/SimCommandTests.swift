import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `fms sim` itself: arguments, the URL line, signals, and the key never shown.
@Suite("fms sim")
struct SimCommandTests {
    @Test("argument errors exit 64", arguments: [
        (["--port", "x"], "--port"),
        (["--port", "70000"], "--port"),
        (["--port", "-1"], "--port"),
        (["--failure-share", "2"], "--failure-share"),
        (["--http503-share", "-0.5"], "--http503-share"),
        (["--dialect", "java"], "--dialect"),
        (["--fail-mobile", "123"], "--fail-mobile"),
        (["--fail-mobile", "13800138000=EXPLODED"], "EXPLODED"),
        (["--rate", "sendEverything=3"], "--rate"),
        (["--rate", "getBalance=fast"], "--rate"),
        (["--host", "localhost"], "--host"),
        (["--review-delay", "soon"], "--review-delay"),
        (["--seed", "x"], "--seed"),
        (["--balance", "lots"], "--balance"),
        (["--prot", "0"], "did you mean '--port'"),
        (["extra"], "unexpected argument 'extra'"),
    ] as [([String], String)])
    func argumentError(_ arguments: [String], _ mention: String) throws {
        let directory = try TemporaryDirectory()
        let key = try directory.write("key", TestSecrets.key, private: true)
        let result = try fms(["sim", "--secret-key-file", key] + arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.stdout.isEmpty, "no URL printed")
        #expect(result.stderr.contains(mention), "stderr mentions \(mention): \(result.stderr)")
    }

    @Test("a key of the wrong length exits 78 naming the length", arguments: [
        (TestSecrets.shortKey, "13"), (TestSecrets.longKey, "20"),
    ])
    func badKeyLength(_ key: String, _ length: String) throws {
        let viaArgument = try fms(["sim", "--secret-key", key])
        #expect(viaArgument.status == 78, "\(viaArgument)")
        #expect(viaArgument.stderr.contains("--secret-key") && viaArgument.stderr.contains(length), "\(viaArgument.stderr)")
        #expect(viaArgument.stdout.isEmpty)

        let directory = try TemporaryDirectory()
        let path = try directory.write("key", key + "\n", private: true)
        let viaFile = try fms(["sim", "--secret-key-file", path])
        #expect(viaFile.status == 78, "\(viaFile)")
        #expect(viaFile.stderr.contains(length))

        let viaEnvironment = try fms(["sim"], environment: ["FMS_SECRET_KEY": key])
        #expect(viaEnvironment.status == 78, "\(viaEnvironment)")
        #expect(viaEnvironment.stderr.contains("FMS_SECRET_KEY") && viaEnvironment.stderr.contains(length))
        for result in [viaArgument, viaFile, viaEnvironment] {
            #expect(!result.stdout.contains(key) && !result.stderr.contains(key), "the key is never shown")
        }
    }

    @Test func noKeyIsConfiguration() throws {
        let result = try fms(["sim"])
        #expect(result.status == 78, "\(result)")
        #expect(result.stderr.contains("FMS_SECRET_KEY"))
    }

    /// The first stdout line is the base URL; nothing else goes to stdout; the key is never printed
    /// (`stop()` checks that and the exit status 0 after the signal).
    @Test("prints its URL and stops cleanly", arguments: [SimulatorProcess.KeySource.file, .argument, .environment])
    func urlLineAndCleanStop(_ key: SimulatorProcess.KeySource) async throws {
        let sim = try SimulatorProcess(key: key)
        #expect(sim.baseURL.range(of: #"^http://127\.0\.0\.1:[1-9][0-9]*$"#, options: .regularExpression) != nil, "\(sim.baseURL)")
        let balance = try sim.fms(["balance"])
        #expect(balance.status == 0, "the simulator answers: \(balance)")
        sim.stop()
        #expect(sim.diagnostics.contains("APP"))
        #expect(sim.diagnostics.contains("stopped"))
        // Stopped: nothing listens any more.
        let after = try fms(["balance"], environment: sim.environment)
        #expect(after.status == 69, "\(after)")
    }

    @Test func stopsOnSIGINTToo() throws {
        let sim = try SimulatorProcess()
        sim.stop(signal: SIGINT)
    }

    /// A signal sent the moment the URL line is read still ends the simulator with status 0.
    @Test func signalRightAfterTheURLLine() throws {
        for _ in 0..<5 {
            let sim = try SimulatorProcess()
            sim.stop()
        }
    }

    @Test func listensOnTheGivenPort() throws {
        let port = try closedPort()
        let sim = try SimulatorProcess(port: port)
        #expect(sim.baseURL == "http://127.0.0.1:\(port)")
        #expect(try sim.fms(["balance", "--json"]).stdout == "{\"balance\":10000}\n")
        sim.stop()
    }
}
