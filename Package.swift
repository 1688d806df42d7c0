// swift-tools-version:6.0
import PackageDescription

/// FlashPush: a rules-driven notifier for the Emay flash-push (FMS) platform.
///
/// No package dependencies: the toolchain plus system C libraries through
/// `systemLibrary` targets. Each C module is imported by exactly one Swift module.
let package = Package(
    name: "FlashPush",
    products: [
        .executable(name: "fms", targets: ["fms"]),
        // The https:// transport (URLSession), loaded by fms with dlopen only when needed.
        .library(name: "FMSURLSessionPlugin", type: .dynamic, targets: ["FMSURLSessionPlugin"]),
    ],
    targets: [
        // C libraries, each a module map plus a shim of static inline wrappers.
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // timerfd(2) of the C library (no package: glibc's own header).
        .systemLibrary(name: "CTimerFD"),

        // Wire models, result codes and the codec (JSON, gzip, AES). No I/O.
        .target(name: "FMSProtocol", dependencies: ["COpenSSL", "CZlib"], linkerSettings: [.linkedLibrary("m")]),
        // The only Swift that touches CLua: states, values, Swift functions, coroutines, limits.
        .target(name: "LuaKit", dependencies: ["CLua"]),
        // The only Swift that touches CSQLite: durable sending (intake log, store, sender), report journal, rule state.
        .target(name: "Outbox", dependencies: ["CSQLite", "FMSClient", "FMSProtocol"]),
        // The `fms` Lua module, rule registrations, scripts and rule checking.
        .target(name: "RulesEngine", dependencies: ["LuaKit", "FMSClient", "FMSProtocol", "Outbox", "CTimerFD"]),
        // URLSession behind a C function, built as libFMSURLSessionPlugin.so (see URLSessionTransport).
        .target(name: "FMSURLSessionPlugin"),
        // The async HTTP client of the six endpoints.
        .target(name: "FMSClient", dependencies: ["FMSProtocol"]),
        // The gateway simulator: vendor logic plus a loopback HTTP/1.1 server.
        .target(name: "FMSSimulator", dependencies: ["FMSProtocol"]),
        // Subcommands, option parsing, output and exit codes of the `fms` tool.
        .target(name: "FMSCommand", dependencies: ["FMSProtocol", "FMSClient", "FMSSimulator", "RulesEngine", "LuaKit", "Outbox"]),
        .executableTarget(name: "fms", dependencies: ["FMSCommand"]),
        // Benchmarks of the codec and the client, run by `make bench` (bench/run.sh).
        .executableTarget(name: "fms-bench", dependencies: ["FMSProtocol", "FMSClient", "FMSSimulator", "LuaKit", "RulesEngine", "Outbox"],
                          path: "Sources/FMSBench"),

        .testTarget(name: "LuaKitTests", dependencies: ["LuaKit"]),
        .testTarget(name: "RulesEngineTests", dependencies: ["RulesEngine", "LuaKit", "FMSClient", "FMSSimulator", "FMSProtocol"]),
        .testTarget(name: "FMSProtocolTests", dependencies: ["FMSProtocol"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FMSClientTests", dependencies: ["FMSClient", "FMSSimulator", "FMSProtocol"]),
        .testTarget(name: "FMSSimulatorTests", dependencies: ["FMSSimulator", "FMSProtocol"]),
        .testTarget(name: "FMSCommandTests", dependencies: ["FMSCommand", "FMSProtocol"]),
        .testTarget(name: "OutboxTests", dependencies: ["Outbox", "FMSClient", "FMSSimulator", "FMSProtocol"]),
    ]
)
