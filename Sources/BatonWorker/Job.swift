import BatonCore
@_exported import struct BatonObservability.TraceContext
import NIOCore

/// A job as a handler sees it.
public struct Job: Sendable {
    public var id: String
    public var service: String
    public var lane: Lane
    /// The request body, byte for byte.
    public var input: ByteBuffer
    /// The request's `Content-Type`, if it had one.
    public var contentType: String?
    /// 1 on the first run; more when the job is redelivered after a crash.
    public var attempt: Int
    /// When the job had to start by, if the caller set a deadline (`Baton-Deadline`): a job
    /// taken after it is `expired` and never reaches a handler; handlers may use it as a
    /// budget.
    public var deadline: Timestamp?
    /// The W3C trace the job belongs to (`traceparent`/`tracestate` of the HTTP request, the
    /// gateway's span as parent; with tracing on, this job's `handler run` span).
    public var trace: TraceContext?

    public init(
        id: String, service: String, lane: Lane, input: ByteBuffer, contentType: String?, attempt: Int = 1,
        deadline: Timestamp? = nil, trace: TraceContext? = nil
    ) {
        self.id = id
        self.service = service
        self.lane = lane
        self.input = input
        self.contentType = contentType
        self.attempt = attempt
        self.deadline = deadline
        self.trace = trace
    }

    /// The input as UTF-8 text.
    public var text: String { String(buffer: input) }
}

/// A failure with an HTTP status and a message: what the client gets as a problem document.
/// Any other error thrown by a handler becomes a 500.
///
/// A `retryable` failure (a durable job only) runs again after a backoff, up to the worker's
/// `--max-attempts`; after the last attempt the job is `failed` and copied to `BATON_DLQ`.
public struct JobError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    public var retryable: Bool

    public init(status: Int, message: String, retryable: Bool = false) {
        self.status = status
        self.message = message
        self.retryable = retryable
    }

    /// A transient failure worth another attempt (503 unless said otherwise).
    public static func retryable(_ message: String, status: Int = 503) -> JobError {
        JobError(status: status, message: message, retryable: true)
    }
}

/// Runs one job: turn the input into an answer, reporting progress through the context.
/// Task cancellation means the job was cancelled or the worker is shutting down: stop early.
public typealias JobHandler = @Sendable (Job, JobContext) async throws -> JobAnswer

/// A service a worker offers.
public struct ServiceDefinition: Sendable {
    public var name: String
    public var lane: Lane
    /// SemVer, shown in the service catalogue.
    public var version: String
    public var description: String
    /// Where a fast-lane request's handler starts (the durable lane's start from the worker's
    /// pull loop, a task already, and ignore it).
    public var start: HandlerStart
    public var handler: JobHandler

    public init(
        name: String, lane: Lane = .durable, version: String = "1.0.0", description: String = "", start: HandlerStart = .inNewTask,
        handler: @escaping JobHandler
    ) {
        precondition(ServiceName.isValid(name), "invalid service name \(name)")
        self.name = name
        self.lane = lane
        self.version = version
        self.description = description
        self.start = start
        self.handler = handler
    }
}

/// Where a fast-lane handler starts.
public enum HandlerStart: Sendable, Equatable {
    /// In a task of its own on Swift's global executor: right for any handler. The request
    /// reaches it through one more thread hand-off (a wake-up of a pool thread).
    case inNewTask
    /// At once, on the thread that delivered the request (the one that reads the worker's NATS
    /// connection), until the handler first suspends; from there on Swift's global executor. A
    /// handler that answers without suspending (`echo`) answers from there: no hand-off, ~27%
    /// less of the worker's CPU per request measured on `echo-fast` (`bench/NOTES.md`). Only
    /// for handlers that do little before their first `await`: while one computes there, no
    /// message reaches any subscription of that connection (other requests, cancels, pulls).
    case immediately
}
