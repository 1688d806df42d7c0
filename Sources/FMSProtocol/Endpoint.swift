/// The two interfaces the gateway offers: encrypted (`secure`) and plain JSON (`normal`).
public enum InterfaceMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// AES-encrypted bodies (optionally gzip-compressed), `appId` in a header. The default.
    case secure
    /// Plain UTF-8 JSON bodies with `appId` inside the JSON.
    case normal

    /// The mode's name as used in paths and on the command line.
    public var description: String { rawValue }
}

/// The six endpoints of the flash-push API.
public enum Endpoint: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Registers a content template (内容模板报备).
    case templateReport
    /// Asks for a template's review status per carrier (模板查询).
    case queryTemplate = "querytemplate"
    /// Sends one message (单条发送).
    case sendSingle = "sendSingleFMS"
    /// Sends up to 300 messages of one template (群发).
    case sendBatch = "sendBatchFMS"
    /// Pops delivery reports (状态报告获取).
    case getReports = "getFMSReport"
    /// Reads the account balance (余额获取).
    case getBalance

    /// The request path for `mode`, e.g. `/fms/secure/getBalance`.
    public func path(_ mode: InterfaceMode) -> String { "/fms/\(mode.rawValue)/\(rawValue)" }

    /// The endpoint's name as it appears in the path.
    public var description: String { rawValue }

    /// Parses a request path such as `/fms/normal/sendSingleFMS` (a query string is ignored).
    public static func parse(path: String) -> (InterfaceMode, Endpoint)? {
        let pathOnly = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        let parts = pathOnly.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[0] == "fms",
              let mode = InterfaceMode(rawValue: String(parts[1])),
              let endpoint = Endpoint(rawValue: String(parts[2])) else { return nil }
        return (mode, endpoint)
    }
}

/// HTTP header names of the protocol.
public enum ProtocolHeader {
    /// Request header carrying the account id (secure interface).
    public static let appId = "appId"
    /// Request header `gzip: on` asking for gzip on both directions (secure interface).
    public static let gzip = "gzip"
    /// Request header naming the body's charset (default UTF-8).
    public static let encode = "encode"
    /// Response header carrying the result code.
    public static let result = "result"
}
