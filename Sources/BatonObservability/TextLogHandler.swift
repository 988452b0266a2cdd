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
///
/// Three words at most (`fitsInline`), the stream handler behind a reference: a logger whose
/// metadata changes copies its handler, and a larger one lives in a heap box of its own — one
/// allocation more on each request's logger.
public struct TextLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private var output: Output

    /// The stream handler (its own metadata stays empty, its level open: this handler's decides).
    private final class Output: Sendable {
        let stream: StreamLogHandler
        init(_ stream: StreamLogHandler) {
            var stream = stream
            stream.logLevel = .trace
            self.stream = stream
        }
    }

    public init(label: String, logLevel: Logger.Level = .info) {
        self.init(wrapping: .standardError(label: label), logLevel: logLevel)
    }

    /// Writes through `stream`; tests compare the lines.
    public init(wrapping stream: StreamLogHandler, logLevel: Logger.Level = .info) {
        self.output = Output(stream)
        self.logLevel = logLevel
    }

    /// True when the handler fits in an existential's inline buffer (three words).
    public static var fitsInline: Bool { MemoryLayout<TextLogHandler>.size <= 3 * MemoryLayout<Int>.size }

    public var metadataProvider: Logger.MetadataProvider? {
        get { output.stream.metadataProvider }
        set {
            var stream = output.stream
            stream.metadataProvider = newValue
            output = Output(stream)
        }
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
        output.stream.log(event: event)
    }
}
