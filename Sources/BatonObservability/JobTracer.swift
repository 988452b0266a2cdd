import BatonCore
import Tracing

/// Records the spans of a job's life — `gateway request`, `queue wait`, `handler run`,
/// `webhook attempt` — in one trace, linked by the W3C trace context that travels with the job
/// (HTTP → NATS headers → worker → webhook).
///
/// Where tracing is off, processes hold no `JobTracer` (an optional that is nil): no span is
/// made and the hand-made `TraceContext` travels as before, so the hot path pays one nil check.
/// The tracer is passed in, not the process-global `InstrumentationSystem`: a test process runs
/// several gateways and workers, and only some of them export.
public struct JobTracer: Sendable {
    /// Span names, one per step of a job.
    public enum Step: String, Sendable, CaseIterable {
        case gatewayRequest = "gateway request"
        case queueWait = "queue wait"
        case handlerRun = "handler run"
        case webhookAttempt = "webhook attempt"

        var kind: SpanKind {
            switch self {
            case .gatewayRequest: .server
            case .queueWait, .handlerRun: .consumer
            case .webhookAttempt: .client
            }
        }
    }

    private let tracer: any Tracer

    public init(_ tracer: any Tracer) {
        self.tracer = tracer
    }

    /// Starts the span of `step` as a child of `parent` (a span of another process: the
    /// caller's, or the one whose context the job's headers carry), or of a new trace. `start`
    /// backdates it (a queue wait starts when the job was accepted).
    public func start(_ step: Step, parent: TraceContext?, at start: Timestamp? = nil) -> JobSpan {
        var context = ServiceContext.topLevel
        if let parent {
            var carrier = [Headers.traceparent: parent.traceparent]
            carrier[Headers.tracestate] = parent.tracestate
            tracer.extract(carrier, into: &context, using: TraceHeaders())
        }
        let span: any Span =
            if let start {
                tracer.startSpan(step.rawValue, context: context, ofKind: step.kind, at: EpochInstant(start))
            } else {
                tracer.startSpan(step.rawValue, context: context, ofKind: step.kind)
            }
        var carrier: [String: String] = [:]
        tracer.inject(span.context, into: &carrier, using: TraceHeaders())
        // What the next hop continues: this span (when the tracer propagates W3C context).
        let trace = carrier[Headers.traceparent].flatMap { TraceContext(traceparent: $0, tracestate: carrier[Headers.tracestate]) }
        return JobSpan(span: span, trace: trace ?? parent?.child() ?? .random(sampled: true))
    }
}

/// One step of a job in flight: its span, and the trace context that names it to the next hop.
///
/// A class: a gateway's held call keeps an optional of it in its frames, 8 bytes where tracing
/// is off.
public final class JobSpan: Sendable {
    private let span: any Span
    /// `traceparent`/`tracestate` whose parent id is this span.
    public let trace: TraceContext

    init(span: any Span, trace: TraceContext) {
        self.span = span
        self.trace = trace
    }

    /// Attribute names (OpenTelemetry semantic conventions where there is one).
    public enum Attribute {
        public static let service = "baton.service"
        public static let job = "baton.job.id"
        public static let priority = "baton.job.priority"
        public static let attempt = "baton.attempt"
        public static let state = "baton.job.state"
        public static let httpStatus = "http.response.status_code"
        public static let error = "error.type"
    }

    public func set(_ name: String, _ value: String?) {
        guard let value else { return }
        span.attributes[name] = value
    }

    public func set(_ name: String, _ value: Int?) {
        guard let value else { return }
        span.attributes[name] = value
    }

    /// Ends the span; a `failure` (a 5xx, a failed job, an unreachable webhook) marks it an error.
    public func end(failure: String? = nil, at end: Timestamp? = nil) {
        if let failure { span.setStatus(SpanStatus(code: .error, message: failure)) }
        if let end { span.end(at: EpochInstant(end)) } else { span.end() }
    }
}

/// A `Timestamp` as the tracer's clock reads time.
private struct EpochInstant: TracerInstant {
    let nanosecondsSinceEpoch: UInt64

    init(_ timestamp: Timestamp) {
        nanosecondsSinceEpoch = UInt64(max(0, timestamp.milliseconds)) * 1_000_000
    }

    static func < (a: Self, b: Self) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }
}

/// W3C trace headers in a `[String: String]`, for the tracer's propagator.
private struct TraceHeaders: Extractor, Injector {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
