import Foundation
import FMSProtocol
import Synchronization

/// The flash-push gateway as the vendor runs it, without the HTTP layer.
///
/// `handle` takes one request (mode, endpoint, headers, body, client IP) and returns the
/// `result` code and body, applying the vendor's checks in the vendor's order (see
/// PROTOCOL-NOTES): appId, rate limit, IP allowlist, decrypt/parse, request time, then the
/// endpoint's own checks. It keeps templates with carrier review, balances, one delivery
/// report per accepted message (popped exactly once) and a ledger of accepted messages.
/// Thread-safe: decryption and parsing run outside the lock.
public final class Gateway: Sendable {
    /// The configuration the gateway started with (faults and failure share can change later).
    public let configuration: GatewayConfiguration
    private let state: Mutex<GatewayState>
    private let clock: @Sendable () -> Double
    private let idPrefix: String

    /// Creates a gateway; `clock` returns seconds since 1970 (replaceable in tests).
    public init(configuration: GatewayConfiguration, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.configuration = configuration
        self.clock = clock
        var accounts: [String: GatewayState.Account] = [:]
        for account in configuration.accounts {
            var state = GatewayState.Account(settings: account)
            for (id, text) in configuration.presetTemplates {
                // Created long enough ago to be approved by every carrier.
                state.templatesById[id] = GatewayState.Template(id: id, text: text, variables: ProtocolText.templateVariables(text),
                                                                createdAt: -configuration.reviewDelay)
                state.templatesByText[text] = id
            }
            accounts[account.appId] = state
        }
        state = Mutex(GatewayState(accounts: accounts, random: SplitMix64(seed: configuration.seed),
                                   faults: configuration.faults, failureShare: configuration.failureShare))
        // fmsIds are unique per process: the start time in milliseconds, then a counter.
        idPrefix = String(Int64(clock() * 1000))
    }

    // MARK: Observation and control

    /// Every accepted message so far, in order of acceptance.
    public func ledger() -> [LedgerEntry] { state.withLock { $0.ledger } }

    /// The balance of an account, or nil if unknown.
    public func balance(of appId: String) -> Int64? { state.withLock { $0.accounts[appId]?.settings.balance } }

    /// Sets an account's balance (tests and demos).
    public func setBalance(_ amount: Int64, for appId: String) {
        state.withLock { $0.accounts[appId]?.settings.balance = amount }
    }

    /// Reports accepted but not yet popped, per account.
    public func pendingReports(of appId: String) -> Int { state.withLock { $0.accounts[appId]?.pendingReportCount ?? 0 } }

    /// The current fault injection.
    public var faults: FaultConfiguration { state.withLock { $0.faults } }

    /// Replaces the fault injection and, when given, the failure share.
    public func setFaults(_ faults: FaultConfiguration, failureShare: Double? = nil) {
        state.withLock { state in
            state.faults = faults
            if let failureShare { state.failureShare = failureShare }
        }
    }

    /// Draws the fault for one request: 503 before processing, or drop after, or none.
    public func drawFault() -> (latency: Double, answer503: Bool, dropAnswer: Bool) {
        state.withLock { state in
            let faults = state.faults
            let answer503 = state.random.chance(faults.http503Share)
            let drop = !answer503 && state.random.chance(faults.dropShare)
            return (faults.latency, answer503, drop)
        }
    }

    /// Counters for `GET /__sim/stats`.
    public func statistics() -> JSONValue {
        state.withLock { state in
            .object([
                JSONMember("requests", .integer(Int64(state.requestCount))),
                JSONMember("accepted", .integer(Int64(state.acceptedCount))),
                JSONMember("accounts", .array(state.accounts.keys.sorted().compactMap { appId in
                    guard let account = state.accounts[appId] else { return nil }
                    return .object([JSONMember("appId", .string(appId)),
                                     JSONMember("balance", .integer(account.settings.balance)),
                                     JSONMember("pendingReports", .integer(Int64(account.pendingReportCount))),
                                     JSONMember("templates", .integer(Int64(account.templatesById.count)))])
                })),
            ])
        }
    }

    // MARK: Requests

    /// Answers one request.
    ///
    /// - Parameters:
    ///   - header: looks up a request header case-insensitively.
    ///   - clientIP: the peer's address, checked against the account's allowlist.
    public func handle(mode: InterfaceMode, endpoint: Endpoint, header: (String) -> String?, body: [UInt8],
                       clientIP: String) -> GatewayAnswer {
        state.withLock { $0.requestCount += 1 }
        let now = clock()
        let request: JSONValue
        let account: SimulatorAccount
        let gzip: Bool
        switch mode {
        case .secure:
            guard let appId = header(ProtocolHeader.appId)?.trimmingSpaces(), !appId.isEmpty,
                  let found = lookUpAccount(appId) else { return .failure(.appId) }
            account = found
            if let refusal = admit(account, endpoint: endpoint, clientIP: clientIP, now: now) { return .failure(refusal) }
            gzip = header(ProtocolHeader.gzip)?.trimmingSpaces().lowercased() == "on"
            guard Self.isUTF8(header(ProtocolHeader.encode)),
                  let opened = try? SecureEnvelope.openJSON(body, key: account.secretKey, gzip: gzip),
                  case .object = opened else { return .failure(.params) }
            request = opened
        case .normal:
            // The appId is inside the JSON: parse first, then the account checks.
            guard Self.isUTF8(header(ProtocolHeader.encode)),
                  let parsed = try? JSONParser.parse(body, options: .tolerant),
                  case .object = parsed else { return .failure(.params) }
            guard let appId = parsed["appId"]?.lenientString, !appId.isEmpty,
                  let found = lookUpAccount(appId) else { return .failure(.appId) }
            account = found
            if let refusal = admit(account, endpoint: endpoint, clientIP: clientIP, now: now) { return .failure(refusal) }
            request = parsed
            gzip = false
        }
        if let refusal = checkTiming(request, now: now) { return .failure(refusal) }
        let outcome: Result<JSONValue, ResultCodeError>
        do {
            outcome = .success(try perform(endpoint, request: request, appId: account.appId, now: now))
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .failure(let error):
            return .failure(error.code)
        case .success(let answer):
            let bytes = JSONWriter.bytes(of: answer)
            guard mode == .secure else { return GatewayAnswer(result: .success, body: bytes) }
            guard let sealed = try? SecureEnvelope.seal(bytes, key: account.secretKey, gzip: gzip) else {
                return .failure(.params)
            }
            return GatewayAnswer(result: .success, body: sealed)
        }
    }

    private static func isUTF8(_ charset: String?) -> Bool {
        guard let charset = charset?.trimmingSpaces().lowercased(), !charset.isEmpty else { return true }
        return charset == "utf-8" || charset == "utf8"
    }

    private func lookUpAccount(_ appId: String) -> SimulatorAccount? {
        state.withLock { state in
            guard let account = state.accounts[appId], account.settings.enabled else { return nil }
            return account.settings
        }
    }

    /// Rate limit, then IP allowlist (checks 2 and 3 of the vendor's order).
    private func admit(_ account: SimulatorAccount, endpoint: Endpoint, clientIP: String, now: Double) -> ResultCode? {
        if let limit = configuration.rateLimits[endpoint] {
            let second = Int64(now.rounded(.down))
            let allowed: Bool = state.withLock { state in
                var window = state.accounts[account.appId]?.rateWindow[endpoint] ?? (second, 0)
                if window.second != second { window = (second, 0) }
                window.count += 1
                state.accounts[account.appId]?.rateWindow[endpoint] = window
                return window.count <= limit
            }
            if !allowed { return .overSpeed }
        }
        if let allowed = account.allowedIPs, !allowed.contains(clientIP) { return .clientIP }
        return nil
    }

    /// requestTime and requestValidPeriod (check 5).
    private func checkTiming(_ request: JSONValue, now: Double) -> ResultCode? {
        guard let requestTime = request["requestTime"]?.lenientInteger, requestTime != 0 else { return .requestTime }
        guard let period = request["requestValidPeriod"]?.lenientInteger, period != 0 else { return .requestValidPeriod }
        let expiry = Double(requestTime) + Double(period) * 1000
        if expiry < now * 1000 { return .requestTimeTimeout }
        return nil
    }

    // MARK: Endpoints

    private func perform(_ endpoint: Endpoint, request: JSONValue, appId: String, now: Double) throws(ResultCodeError) -> JSONValue {
        switch endpoint {
        case .templateReport:
            let payload = try parse { () throws(FieldError) in try TemplateReportRequest(json: request) }
            return try reportTemplate(payload.templateInfo, appId: appId, now: now)
        case .queryTemplate:
            let payload = try parse { () throws(FieldError) in try TemplateQueryRequest(json: request) }
            return try queryTemplate(payload.templateId, appId: appId, now: now)
        case .sendSingle:
            let payload = try parse { () throws(FieldError) in try SingleSendRequest(json: request) }
            let entry = BatchEntry(mobile: payload.mobile, customFmsId: payload.customFmsId, content: payload.content)
            return try send(templateId: payload.templateId, entries: [entry], single: true, appId: appId, now: now)
        case .sendBatch:
            let payload = try parse { () throws(FieldError) in try BatchSendRequest(json: request) }
            return try send(templateId: payload.templateId, entries: payload.entries, single: false, appId: appId, now: now)
        case .getReports:
            let payload = try parse { () throws(FieldError) in try ReportsRequest(json: request) }
            return popReports(Int(payload.number), appId: appId, now: now)
        case .getBalance:
            let amount = state.withLock { $0.accounts[appId]?.settings.balance ?? 0 }
            return configuration.dialect == .vendorServer ? Balance(amount).vendorJSON : Balance(amount).documentJSON
        }
    }

    private func parse<T>(_ read: () throws(FieldError) -> T) throws(ResultCodeError) -> T {
        do {
            return try read()
        } catch {
            throw ResultCodeError(code: .params)
        }
    }

    private func reportTemplate(_ text: String, appId: String, now: Double) throws(ResultCodeError) -> JSONValue {
        guard !text.trimmingSpaces().isEmpty else { throw ResultCodeError(code: .templateEmpty) }
        guard ProtocolText.vendorLength(text) <= ProtocolText.maximumTemplateLength else {
            throw ResultCodeError(code: .templateAboveLength)
        }
        let variables = ProtocolText.templateVariables(text)
        guard variables.count <= ProtocolText.maximumTemplateVariables else { throw ResultCodeError(code: .templateVarMore) }
        guard Set(variables).count == variables.count else { throw ResultCodeError(code: .templateVarRepeat) }
        let templateId: String = state.withLock { state in
            if let existing = state.accounts[appId]?.templatesByText[text] { return existing }
            state.nextTemplateNumber += 1
            let id = "9" + idPrefix + Self.padded(state.nextTemplateNumber, width: 6)
            state.accounts[appId]?.templatesByText[text] = id
            state.accounts[appId]?.templatesById[id] = GatewayState.Template(id: id, text: text, variables: variables, createdAt: now)
            return id
        }
        return TemplateReportResponse(templateId: templateId, variables: variables).json
    }

    private func queryTemplate(_ templateId: String, appId: String, now: Double) throws(ResultCodeError) -> JSONValue {
        let id = templateId.trimmingSpaces()
        guard !id.isEmpty else { throw ResultCodeError(code: .templateIdEmpty) }
        let template = state.withLock { $0.accounts[appId]?.templatesById[id] }
        let vendor = configuration.dialect == .vendorServer
        guard let template else {
            if vendor { throw ResultCodeError(code: .templateIdError) }
            return TemplateStatus.unknown(id).json()
        }
        let review: CarrierReview = now - template.createdAt >= configuration.reviewDelay ? .approved : .pending
        return TemplateStatus(templateId: id, cmcc: review, cucc: review, ctcc: review).json(numbersAsStrings: vendor)
    }

    private func send(templateId: String, entries: [BatchEntry], single: Bool, appId: String,
                      now: Double) throws(ResultCodeError) -> JSONValue {
        let id = templateId.trimmingSpaces()
        guard !id.isEmpty else { throw ResultCodeError(code: .templateIdEmpty) }
        guard state.withLock({ $0.accounts[appId]?.templatesById[id] }) != nil else {
            throw ResultCodeError(code: .templateIdError)
        }
        guard !entries.isEmpty else { throw ResultCodeError(code: .mobileEmpty) }
        if single {
            guard let mobile = entries.first?.mobile, !mobile.trimmingSpaces().isEmpty else {
                throw ResultCodeError(code: .mobileEmpty)
            }
            guard ProtocolText.isValidMobile(mobile) else { throw ResultCodeError(code: .mobileError) }
        } else {
            guard entries.count <= ProtocolText.maximumBatchSize else { throw ResultCodeError(code: .mobileNumber) }
            guard entries.contains(where: { ProtocolText.isValidMobile($0.mobile) }) else {
                throw ResultCodeError(code: .mobileError)
            }
        }
        for entry in entries {
            if let custom = entry.customFmsId, ProtocolText.vendorLength(custom) > ProtocolText.maximumCustomFmsIdLength {
                throw ResultCodeError(code: .customFmsIdTooLong)
            }
        }
        let submitTime = BeijingTime.format(now)
        let receiveTime = BeijingTime.format(now + configuration.reportDelay)
        let vendor = configuration.dialect == .vendorServer
        let accepted: [SentMessage] = state.withLock { state in
            // Take the account out of the table for the whole batch: one lookup, no copies of its queues.
            guard var account = state.accounts.removeValue(forKey: appId) else { return [] }
            defer { state.accounts[appId] = account }
            var sent: [SentMessage] = []
            sent.reserveCapacity(entries.count)
            for entry in entries {
                state.nextMessageNumber += 1
                let fmsId = idPrefix + Self.padded(state.nextMessageNumber, width: 7)
                let mobile = entry.mobile.trimmingSpaces()
                let reportState: ReportState
                if !ProtocolText.isValidMobile(mobile) {
                    reportState = .failMobile
                } else if let forced = configuration.failingMobiles[mobile] {
                    reportState = forced
                } else if account.settings.balance <= 0 {
                    reportState = .failBalance
                } else if state.random.chance(state.failureShare) {
                    let failures: [ReportState] = [.failUnknown, .timeout, .failMobileSupport, .failBlackDict]
                    reportState = failures[Int(state.random.next() % UInt64(failures.count))]
                } else {
                    reportState = .delivered
                }
                if reportState != .failBalance, account.settings.balance > 0 {
                    account.settings.balance -= 1
                }
                let custom = entry.customFmsId.flatMap { $0.isEmpty ? nil : $0 }
                let report = DeliveryReport(mobile: mobile, fmsId: fmsId, customFmsId: custom,
                                            state: vendor ? .unknown(" " + reportState.name) : reportState,
                                            desc: reportState.chineseDescription, receiveTime: receiveTime, submitTime: submitTime)
                account.reports.append(GatewayState.QueuedReport(dueAt: now + configuration.reportDelay, report: report))
                if configuration.keepsLedger {
                    state.ledger.append(LedgerEntry(appId: appId, fmsId: fmsId, customFmsId: custom, mobile: entry.mobile,
                                                    templateId: id, content: entry.content, state: reportState))
                }
                sent.append(SentMessage(mobile: entry.mobile, fmsId: fmsId, customFmsId: custom))
            }
            state.acceptedCount += sent.count
            return sent
        }
        if single, let only = accepted.first { return only.json }
        return .array(accepted.map(\.json))
    }

    private func popReports(_ number: Int, appId: String, now: Double) -> JSONValue {
        let reports: [DeliveryReport] = state.withLock { state in
            guard var account = state.accounts[appId] else { return [] }
            state.accounts[appId] = nil  // edit in place without copying the queue
            var popped: [DeliveryReport] = []
            while popped.count < number, account.reportHead < account.reports.count,
                  account.reports[account.reportHead].dueAt <= now {
                popped.append(account.reports[account.reportHead].report)
                account.reportHead += 1
            }
            if account.reportHead > 4096, account.reportHead * 2 > account.reports.count {
                account.reports.removeFirst(account.reportHead)
                account.reportHead = 0
            }
            state.accounts[appId] = account
            return popped
        }
        guard configuration.dialect == .vendorServer else { return .array(reports.map(\.json)) }
        // The vendor's own answers carry stray spaces in a key, as the document shows.
        return .array(reports.map { report in
            guard case .object(var members) = report.json else { return report.json }
            for index in members.indices where members[index].key == "receiveTime" { members[index].key = "receiveTime " }
            return .object(members)
        })
    }

    private static func padded(_ number: UInt64, width: Int) -> String {
        let digits = String(number)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// A vendor result code raised inside the gateway's endpoint logic.
struct ResultCodeError: Error {
    var code: ResultCode
}
