import BatonObservability
import Logging

/// A job's logger: the worker's, with the job's id (and its trace id, when it has one) in every
/// line's metadata — added when a line is written, not when the job starts.
///
/// A `Logger` with a metadata value set is a copy of its handler (boxed: a heap allocation)
/// with a copied, grown dictionary: three of a durable job's ~68 allocations and two of a
/// fast-lane job's, for a logger that logs nothing while jobs succeed (`warning` and up is the
/// default level).
struct JobLogger: Sendable {
    let base: Logger
    let id: String
    let trace: TraceContext?

    /// The logger with the job's metadata, for a handler (`JobContext.logger`).
    var logger: Logger {
        var logger = base
        // One assignment: a change of metadata copies the handler.
        var metadata = logger.handler.metadata
        metadata["job"] = .string(id)
        if let trace { metadata["trace_id"] = .string(trace.traceID) }
        logger.handler.metadata = metadata
        return logger
    }

    func log(
        level: Logger.Level, _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        guard base.logLevel <= level else { return }
        logger.log(level: level, message(), metadata: metadata(), file: file, function: function, line: line)
    }

    func debug(
        _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .debug, message(), metadata: metadata(), file: file, function: function, line: line)
    }

    func info(
        _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .info, message(), metadata: metadata(), file: file, function: function, line: line)
    }

    func warning(
        _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .warning, message(), metadata: metadata(), file: file, function: function, line: line)
    }
}
