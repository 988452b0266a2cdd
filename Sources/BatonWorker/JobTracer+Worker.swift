import BatonCore
import BatonNATS
import BatonObservability

extension JobTracer {
    /// A worker took a job: records its `queue wait` (from when the gateway accepted it, the
    /// job's `Baton-Created`, to now) and starts its `handler run`. Both are children of the
    /// gateway's span, which the job's `traceparent` names.
    func take(
        _ id: String, service: String, priority: Priority?, delivery: Int, trace: TraceContext?, headers: NATSHeaders
    ) -> JobSpan {
        let accepted = headers[Headers.created].flatMap { Timestamp(rfc3339: $0) }
        let wait = start(.queueWait, parent: trace, at: accepted)
        describe(wait, id, service: service, priority: priority, delivery: delivery)
        wait.end()
        let run = start(.handlerRun, parent: trace)
        describe(run, id, service: service, priority: priority, delivery: delivery)
        return run
    }

    private func describe(_ span: JobSpan, _ id: String, service: String, priority: Priority?, delivery: Int) {
        span.set(JobSpan.Attribute.job, id)
        span.set(JobSpan.Attribute.service, service)
        span.set(JobSpan.Attribute.priority, priority?.rawValue)
        span.set(JobSpan.Attribute.attempt, delivery)
    }
}

extension JobSpan {
    /// Ends a `handler run` with what the handler came to; nil: it was cancelled or the worker
    /// stopped under it (`reason`).
    func end(_ outcome: JobOutcome?, reason: @autoclosure () -> String) {
        guard let outcome else {
            end(failure: reason())
            return
        }
        set(Attribute.httpStatus, outcome.answer.status)
        set(Attribute.state, outcome.state.rawValue)
        end(failure: outcome.state == .failed ? outcome.error ?? "failed" : nil)
    }
}
