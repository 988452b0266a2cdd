import Logging

/// swift-log's `StreamLogHandler` lines on stderr, with the logger's metadata kept here and
/// formatted only when a line is written.
///
/// `StreamLogHandler` formats its metadata (sorted, joined into one string) each time a value is
/// set, whether or not anything is ever logged. Hummingbird sets `hb.request.id` on every
/// request's logger, so a gateway at `warning` paid that formatting on every call: ~2.5% of its
/// CPU on the fast lane (perf), for lines it never wrote. This handler hands the metadata to the
/// stream handler as the event's own, which it formats only for a line it writes; the lines are
/// the same (`StreamLogHandler` sorts the keys either way).
public struct TextLogHandler: LogHandler {
    private var stream: StreamLogHandler
    public var metadata: Logger.Metadata = [:]

    public init(label: String, logLevel: Logger.Level = .info) {
        self.init(wrapping: .standardError(label: label), logLevel: logLevel)
    }

    /// Writes through `stream` (whose own metadata stays empty); tests compare the lines.
    public init(wrapping stream: StreamLogHandler, logLevel: Logger.Level = .info) {
        self.stream = stream
        self.stream.logLevel = logLevel
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty {
            event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit }
        }
        stream.log(event: event)
    }
}
