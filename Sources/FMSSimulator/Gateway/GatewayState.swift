import FMSProtocol

/// The mutable part of the simulated gateway, kept behind one lock.
struct GatewayState: Sendable {
    struct Template: Sendable {
        var id: String
        var text: String
        var variables: [String]
        var createdAt: Double
    }

    struct QueuedReport: Sendable {
        var dueAt: Double
        var report: DeliveryReport
    }

    struct Account: Sendable {
        var settings: SimulatorAccount
        var templatesByText: [String: String] = [:]
        var templatesById: [String: Template] = [:]
        /// FIFO of reports; `reportHead` is the first not yet popped (due times only grow).
        var reports: [QueuedReport] = []
        var reportHead = 0
        /// Requests counted in the current second, per endpoint.
        var rateWindow: [Endpoint: (second: Int64, count: Int)] = [:]

        var pendingReportCount: Int { reports.count - reportHead }
    }

    var accounts: [String: Account]
    var random: SplitMix64
    var nextMessageNumber: UInt64 = 0
    var nextTemplateNumber: UInt64 = 0
    var ledger: [LedgerEntry] = []
    var faults: FaultConfiguration
    var failureShare: Double
    var requestCount = 0
    var acceptedCount = 0
}
