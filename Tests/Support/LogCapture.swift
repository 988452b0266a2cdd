import Logging
import Synchronization

/// The messages logged through a `Logger` it makes, kept for a test to wait on: some events
/// have no other trace (a worker deciding to hand a job back rather than ack it).
public final class LogCapture: Sendable {
    private let entries = Mutex<[(message: String, line: String)]>([])

    public init() {}

    /// A logger at `level` whose messages this capture keeps.
    public func logger(_ label: String, level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    /// Whether `message` was logged.
    public func contains(_ message: String) -> Bool {
        entries.withLock { $0.contains { $0.message == message } }
    }

    /// Every message with its metadata (`message key=value …`), for checks on what a log says.
    public var lines: [String] {
        entries.withLock { $0.map(\.line) }
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
            let message = event.message.description
            let fields = metadata.merging(event.metadata ?? [:]) { $1 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            capture.entries.withLock { $0.append((message, ([message] + fields).joined(separator: " "))) }
        }
    }
}
