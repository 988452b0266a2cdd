import BatonCore
import BatonNATS
import BatonObservability
import BatonStore
import Logging

extension DurableJobRunner {
    /// A job as delivered: what its attempt's steps share. A class, so that each step's frame
    /// holds a reference (an async function's frame is sized for all its paths and lives while
    /// it runs; the steps are out of line so that a job's task only ever holds one of them).
    final class Delivery: Sendable {
        let message: JetStreamMessage
        let id: String
        let trace: TraceContext?
        /// The job's logger (its metadata added only to lines written).
        let logger: JobLogger
        /// Where a waiting gateway wants the answer.
        let reply: String?
        let taken = ContinuousClock.now
        let deadline: Timestamp?
        /// The gateway's record holds only what the headers say: no webhook to look up.
        let headersOnly: Bool
        /// `Baton-Cancel: delete`: a cancel while the job was queued deleted its message.
        let cancelDeletes: Bool

        init?(_ message: JetStreamMessage, logger: Logger) {
            guard let id = message.headers[Headers.jobID], JobID.isValid(id) else { return nil }
            self.message = message
            self.id = id
            trace = message.headers[Headers.traceparent].flatMap {
                TraceContext(traceparent: $0, tracestate: message.headers[Headers.tracestate])
            }
            self.logger = JobLogger(base: logger, id: id, trace: trace)
            reply = message.headers[Headers.replyTo]
            deadline = message.headers[Headers.deadline].flatMap { Timestamp(rfc3339: $0) }
            headersOnly = message.headers[Headers.record] == "headers"
            cancelDeletes = message.headers[Headers.cancel] == "delete"
        }

        /// Where the job came from, carried by its end when its record may never have been
        /// written (`Baton-Record: headers`: a call answered within its wait has none), so that
        /// a read of the end alone shows its creation time, owner and priority.
        var origin: JobOrigin? { headersOnly ? DurableJobRunner.origin(of: message) : nil }
    }

    /// Where a job came from, as its message says: `Baton-Created`, `Baton-Owner`, and the
    /// priority its subject names.
    static func origin(of message: JetStreamMessage) -> JobOrigin {
        JobOrigin(
            createdAt: message.headers[Headers.created].flatMap { Timestamp(rfc3339: $0) }, owner: message.headers[Headers.owner],
            priority: Subjects.priority(ofJob: message.subject))
    }
}
