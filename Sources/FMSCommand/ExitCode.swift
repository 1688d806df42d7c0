/// Process exit statuses, as sysexits(3) defines them.
public enum ExitCode: Int32, Sendable {
    /// Success.
    case ok = 0
    /// The command line was wrong: unknown option, missing argument (EX_USAGE).
    case usage = 64
    /// The input data was wrong: invalid mobile, unknown template, bad CSV (EX_DATAERR).
    case dataError = 65
    /// An input file does not exist or cannot be read (EX_NOINPUT).
    case noInput = 66
    /// The gateway cannot be reached (EX_UNAVAILABLE).
    case unavailable = 69
    /// An internal error (EX_SOFTWARE).
    case software = 70
    /// Writing output failed (EX_IOERR).
    case ioError = 74
    /// A temporary failure: try again later (EX_TEMPFAIL).
    case temporaryFailure = 75
    /// The gateway's answer broke the protocol (EX_PROTOCOL).
    case protocolError = 76
    /// The account is not allowed to do this (EX_NOPERM).
    case noPermission = 77
    /// The configuration is wrong: no URL, no key, bad key (EX_CONFIG).
    case configuration = 78
}

/// An error the command line reports on stderr before exiting with `exitCode`.
public struct CommandError: Error, Sendable, CustomStringConvertible {
    /// The sentence printed after `fms: `.
    public var message: String
    /// The exit status.
    public var exitCode: ExitCode

    /// Creates an error.
    public init(_ message: String, exitCode: ExitCode) {
        self.message = message
        self.exitCode = exitCode
    }

    /// A usage error (exit 64).
    public static func usage(_ message: String) -> CommandError { CommandError(message, exitCode: .usage) }

    /// The message.
    public var description: String { message }
}
