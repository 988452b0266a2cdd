import Logging
import Synchronization

/// The messages logged through a `Logger` it makes, kept for a test to wait on: some events
/// have no other trace (a worker deciding to hand a job back rather than ack it).
public final class LogCapture: Sendable {
    private let messages = Mutex<[String]>([])

    public init() {}

    /// A logger at `level` whose messages this capture keeps.
    public func logger(_ label: String, level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    /// Whether `message` was logged.
    public func contains(_ message: String) -> Bool {
        messages.withLock { $0.contains(message) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.messages.withLock { $0.append(event.message.description) }
        }
    }
}
