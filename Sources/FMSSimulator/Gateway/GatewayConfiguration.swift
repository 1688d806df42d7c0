import FMSProtocol

/// One account the simulated gateway knows.
public struct SimulatorAccount: Sendable {
    /// The account id, sent as `appId`.
    public var appId: String
    /// The account's AES key.
    public var secretKey: SecretKey
    /// Messages the account may still send.
    public var balance: Int64
    /// Client IPs allowed to call; nil allows any.
    public var allowedIPs: Set<String>?
    /// A disabled account is answered `ERROR_APPID`.
    public var enabled: Bool

    /// Creates an account.
    public init(appId: String, secretKey: SecretKey, balance: Int64, allowedIPs: Set<String>? = nil, enabled: Bool = true) {
        self.appId = appId
        self.secretKey = secretKey
        self.balance = balance
        self.allowedIPs = allowedIPs
        self.enabled = enabled
    }
}

/// Which of the two published behaviours the simulator copies where they differ.
public enum GatewayDialect: String, Sendable, CaseIterable {
    /// What the vendor document shows (the default): `{"balance":"…"}`, -1 for unknown templates.
    case document
    /// What the vendor's server code does: a bare balance string, `ERROR_TEMPLATE_ID_ERROR`
    /// for unknown templates, carrier codes as strings, stray spaces in report keys and states.
    case vendorServer = "vendor"
}

/// Faults the simulator injects into `/fms/` requests, for testing clients under stress.
public struct FaultConfiguration: Sendable, Equatable {
    /// Seconds added before each answer.
    public var latency: Double
    /// Share (0...1) of requests answered HTTP 503 without being processed.
    public var http503Share: Double
    /// Share (0...1) of requests processed and then answered by closing the connection
    /// (the gateway accepted them, the client never learns it).
    public var dropShare: Double

    /// Creates a fault setting; no faults by default.
    public init(latency: Double = 0, http503Share: Double = 0, dropShare: Double = 0) {
        self.latency = latency
        self.http503Share = http503Share
        self.dropShare = dropShare
    }

    /// No faults.
    public static let none = FaultConfiguration()
}

/// Everything that shapes the simulated gateway's behaviour.
public struct GatewayConfiguration: Sendable {
    /// The accounts.
    public var accounts: [SimulatorAccount]
    /// Seconds a new template stays "pending review" before carriers approve it.
    public var reviewDelay: Double
    /// Seconds between accepting a message and its delivery report becoming available.
    public var reportDelay: Double
    /// Share (0...1) of accepted messages whose report is a failure.
    public var failureShare: Double
    /// Mobiles whose every message fails with the given state (for demos and tests).
    public var failingMobiles: [String: ReportState]
    /// Requests per second per account and endpoint; endpoints not listed are unlimited.
    public var rateLimits: [Endpoint: Int]
    /// Document or vendor-server behaviour where they differ.
    public var dialect: GatewayDialect
    /// Injected faults.
    public var faults: FaultConfiguration
    /// Seed of the random choices (failures, faults), for repeatable runs.
    public var seed: UInt64
    /// Whether to keep the ledger of accepted messages (`GET /__sim/ledger`).
    public var keepsLedger: Bool
    /// Templates every account has from the start, already approved: id → text (demos, `fms watch --sim`).
    public var presetTemplates: [String: String] = [:]

    /// The vendor's rate limits: templateReport 1/s, getFMSReport and getBalance 10/s, sends unlimited.
    public static let vendorRateLimits: [Endpoint: Int] = [.templateReport: 1, .getReports: 10, .getBalance: 10]

    /// Creates a configuration with the vendor's defaults.
    public init(accounts: [SimulatorAccount], reviewDelay: Double = 2, reportDelay: Double = 1, failureShare: Double = 0,
                failingMobiles: [String: ReportState] = [:], rateLimits: [Endpoint: Int] = GatewayConfiguration.vendorRateLimits,
                dialect: GatewayDialect = .document, faults: FaultConfiguration = .none, seed: UInt64 = 0x5EED,
                keepsLedger: Bool = true) {
        self.accounts = accounts
        self.reviewDelay = reviewDelay
        self.reportDelay = reportDelay
        self.failureShare = failureShare
        self.failingMobiles = failingMobiles
        self.rateLimits = rateLimits
        self.dialect = dialect
        self.faults = faults
        self.seed = seed
        self.keepsLedger = keepsLedger
    }
}
