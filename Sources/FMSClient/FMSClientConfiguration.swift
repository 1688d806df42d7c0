import Foundation
import FMSProtocol

/// Where the gateway is and how to talk to it.
public struct FMSClientConfiguration: Sendable {
    /// Base URL, `http://host:port` (paths are appended).
    public var baseURL: URL
    /// The account id.
    public var appId: String
    /// The account's secret key; required in secure mode, unused in normal mode.
    public var secretKey: SecretKey?
    /// Encrypted (`secure`, the default) or plain JSON (`normal`).
    public var mode: InterfaceMode
    /// Compress secure bodies with gzip (default on; the vendor recommends it).
    public var gzip: Bool
    /// zlib level for gzip (-1: the default, 6).
    public var gzipLevel: Int32
    /// Seconds to wait for one HTTP exchange.
    public var timeout: Double
    /// Seconds the gateway should consider a request valid after `requestTime`.
    public var requestValidPeriod: Int64
    /// Most requests one batch call keeps in flight at once.
    public var maxConcurrentRequests: Int
    /// The clock stamped into `requestTime`, milliseconds since 1970 (replaceable in tests).
    public var clock: @Sendable () -> Int64

    /// Creates a configuration with the defaults.
    public init(baseURL: URL, appId: String, secretKey: SecretKey?, mode: InterfaceMode = .secure, gzip: Bool = true,
                timeout: Double = 30, requestValidPeriod: Int64 = 60, maxConcurrentRequests: Int = 4) {
        self.baseURL = baseURL
        self.appId = appId
        self.secretKey = secretKey
        self.mode = mode
        self.gzip = gzip
        self.gzipLevel = Gzip.defaultLevel
        self.timeout = timeout
        self.requestValidPeriod = requestValidPeriod
        self.maxConcurrentRequests = maxConcurrentRequests
        self.clock = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
    }

    /// Checks the settings, naming the first that is wrong.
    public func validate() throws(FMSClientError) {
        guard let scheme = baseURL.scheme?.lowercased(), scheme == "http" || scheme == "https", baseURL.host != nil else {
            throw .configuration("gateway URL '\(baseURL.absoluteString)' is not an http:// or https:// URL with a host")
        }
        guard !appId.trimmingSpaces().isEmpty else { throw .configuration("the appId is empty") }
        if mode == .secure && secretKey == nil {
            throw .configuration("the secure interface needs the secret key (FMS_SECRET_KEY or FMS_SECRET_KEY_FILE)")
        }
        guard timeout > 0 else { throw .configuration("timeout must be positive, not \(timeout)") }
        guard requestValidPeriod > 0 else { throw .configuration("requestValidPeriod must be positive, not \(requestValidPeriod)") }
        guard maxConcurrentRequests > 0 else { throw .configuration("maxConcurrentRequests must be positive") }
    }
}
