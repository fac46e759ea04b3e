import Logging

/// How shoald, shoal-worker and shoal-bridge log: every logger of the process to standard error
/// (systemd's journal, or the terminal) at one level.
public enum StandardErrorLogging {
    /// The level named `text` (trace … critical); an error naming `what` (the option or key) and
    /// the choices otherwise.
    public static func level(_ text: String, what: String) throws(ConfigError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            throw ConfigError("\(what) \(text): expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return level
    }

    /// Sends every logger of the process to standard error at `level`. Once per process.
    public static func bootstrap(_ level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}
