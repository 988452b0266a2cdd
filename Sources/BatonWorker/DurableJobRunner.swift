import BatonCore
import BatonNATS
import BatonObservability
import BatonStore
import Logging
import NIOCore

/// Runs durable jobs pulled from JetStream, so that no job is lost and none is answered twice:
///
/// 1. a job past its deadline is `expired` and not run; a job out of attempts (crash loops,
///    retries) is `failed` and dead-lettered;
/// 2. mark the record `running` (attempt = delivery count); a job whose record is already
///    terminal was finished (or cancelled) before: answer again from the stored result, ack;
/// 3. run the handler, heartbeating (`+WPI`) so a long job is not redelivered while alive, and
///    cancelling it when `baton.cancel.<job>` says so;
/// 4. a retryable failure with attempts left goes back to `queued` and is handed back with a
///    backoff (`-NAK` with delay); otherwise store the answer (first answer wins) and mark the
///    record terminal (compare-and-set); a retryable failure on its last attempt is also copied
///    to `BATON_DLQ`;
/// 5. answer the waiting gateway, publish the terminal event, and only then ack.
///
/// When NATS fails on the way, the job is handed back (`-NAK`) and runs again later; when the
/// worker stops mid-job, likewise. Record writes start from the revision last written (the
/// gateway passes the one it created in `Baton-Record-Revision`), so a job's bookkeeping costs
/// one round trip per write, not a read and a write.
struct DurableJobRunner: Sendable {
    let service: ServiceDefinition
    let connection: NATSConnection
    let store: JobStore
    let cancellations: Cancellations
    let configuration: WorkerConfiguration
    let logger: Logger
    /// This process's `$SRV.STATS` counters for the service.
    let stats: MicroEndpointStats

    private enum Start {
        case running(StoredRecord)
        case finished(JobRecord)
    }

    func process(_ message: JetStreamMessage) async {
        guard let id = message.headers[Headers.jobID], JobID.isValid(id) else {
            logger.error("job message without a valid job id; terminating it", metadata: ["subject": "\(message.subject)"])
            try? message.terminate()
            return
        }
        let trace = message.headers[Headers.traceparent].flatMap {
            TraceContext(traceparent: $0, tracestate: message.headers[Headers.tracestate])
        }
        var logger = self.logger
        logger[metadataKey: "job"] = "\(id)"
        if let trace { logger[metadataKey: "trace_id"] = "\(trace.traceID)" }
        let reply = message.headers[Headers.replyTo]
        let token = cancellations.register(id)
        defer { cancellations.done(id) }
        let taken = ContinuousClock.now
        let inFlight = WorkerMetrics.inFlight(service: service.name)
        inFlight.increment()
        defer { inFlight.decrement() }
        WorkerMetrics.queueDepth(service: service.name, pending: message.pending)
        if message.deliveryCount > 1 { WorkerMetrics.redelivered(service: service.name) }
        let deadline = message.headers[Headers.deadline].flatMap { Timestamp(rfc3339: $0) }

        if let deadline, deadline < .now {
            await end(message, id: id, reply: reply, since: taken, logger: logger) { answerGateway in
                try await store.expire(id, service: service.name, from: nil, beforeEvent: answerGateway)
            }
            return
        }
        // Attempts count starts (see `start`); deliveries also grow while JetStream is
        // unavailable and a job cannot start, which must not dead-letter it. This bound only
        // stops a message that can never start from cycling forever.
        if message.deliveryCount > configuration.maxAttempts * 10 {
            await giveUp(message, attempts: message.deliveryCount - 1, id: id, reply: reply, since: taken, logger: logger)
            return
        }

        let cursor: RecordCursor
        let attempt: Int
        do {
            switch try await start(id, message: message) {
            case .finished(let record):
                logger.info("job already \(record.state.rawValue); acknowledging redelivery")
                await answerAgain(message, record: record, reply: reply, logger: logger)
                return
            case .running(let stored):
                cursor = RecordCursor(stored)
                attempt = stored.record.attempts
            }
        } catch {
            // JetStream unavailable (a node died, leaders are being elected): not an attempt;
            // hand it back with a growing delay.
            let delay = Duration.seconds(min(30, message.deliveryCount))
            logger.warning("cannot start job; handing it back", metadata: ["error": "\(error)", "delay": "\(delay)"])
            try? message.nak(delay: delay)
            return
        }

        if attempt > configuration.maxAttempts {  // earlier starts ended without an answer (crashes, stalls)
            await giveUp(message, attempts: attempt - 1, id: id, reply: reply, since: taken, logger: logger)
            return
        }

        let job = Job(
            id: id, service: service.name, lane: .durable, input: message.payload,
            contentType: message.headers[Headers.contentType], attempt: attempt, deadline: deadline,
            trace: trace
        )
        let context = JobContext(job: job, connection: connection, store: store, cursor: cursor, logger: logger)
        guard let outcome = await runWithHeartbeat(message, token: token, { try await stats.measure { try await service.handler(job, context) } }) else {
            if token.isCancelled {
                logger.info("job cancelled by the client")
                WorkerMetrics.finished(service: service.name, state: JobState.cancelled.rawValue, duration: ContinuousClock.now - taken)
                await answerAgain(message, record: nil, reply: reply, id: id, logger: logger)
            } else {
                logger.info("worker stopping mid-job; handing it back")
                try? message.nak()
            }
            return
        }

        if outcome.state == .failed, outcome.retryable, !token.isCancelled {
            if attempt < configuration.maxAttempts {
                await retryLater(message, attempt: attempt, id: id, outcome: outcome, cursor: cursor, logger: logger)
                return
            }
            await end(message, id: id, reply: reply, since: taken, logger: logger) { answerGateway in
                let ended = try await store.finish(
                    id, service: service.name, answer: outcome.answer, state: .failed, error: outcome.error,
                    worker: configuration.workerID, from: cursor.current, beforeEvent: answerGateway)
                if ended.state == .failed {
                    WorkerMetrics.deadLettered(kind: "job")
                    try await store.deadLetter(
                        .job, id: id, service: service.name, payload: message.payload, contentType: message.headers[Headers.contentType],
                        attempts: attempt, error: outcome.error ?? "failed", owner: message.headers[Headers.owner])
                }
                return ended
            }
            return
        }

        await end(message, id: id, reply: reply, since: taken, logger: logger) { answerGateway in
            try await store.finish(
                id, service: service.name, answer: outcome.answer, state: outcome.state, error: outcome.error,
                worker: configuration.workerID, from: cursor.current, beforeEvent: answerGateway)
        }
    }

    /// Runs `ending`, which stores the job's end and calls the closure it gets with the stored
    /// answer before the terminal event (so a waiting gateway answers its client as early as
    /// possible); then acks.
    ///
    /// When NATS fails on the way (a stream electing a leader takes seconds), the end is tried
    /// again here, with the message kept in progress, for up to `endRetryLimit`: the answer is
    /// known, and handing the job back would run it again and spend an attempt on NATS's
    /// trouble. `ending` is idempotent (first answer wins; the event has a message id). Past the
    /// limit, or when the worker stops, the job is handed back.
    private func end(
        _ message: JetStreamMessage, id: String, reply: String?, since taken: ContinuousClock.Instant, logger: Logger,
        _ ending: (_ answerGateway: @escaping (JobAnswer) -> Void) async throws -> (answer: JobAnswer, state: JobState)
    ) async {
        let connection = self.connection
        let answerGateway: (JobAnswer) -> Void = { answer in
            if let reply { try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id)) }
        }
        do {
            let (ended, tries) = try await message.retryingInProgress(
                for: configuration.endRetryLimit, maxPause: configuration.heartbeatInterval,
                onFirstFailure: { logger.warning("cannot record the end of the job yet; retrying", metadata: ["error": "\($0)"]) }
            ) {
                let ended = try await ending(answerGateway)
                try message.ack()
                return ended
            }
            WorkerMetrics.finished(service: service.name, state: ended.state.rawValue, duration: ContinuousClock.now - taken)
            logger.debug("job done", metadata: ["state": "\(ended.state.rawValue)", "status": "\(ended.answer.status)"])
            if tries > 1 { logger.info("recorded the end of the job", metadata: ["tries": "\(tries)"]) }
        } catch {
            logger.warning("cannot record the end of the job; handing it back", metadata: ["error": "\(error)"])
            try? message.nak(delay: .seconds(1))
        }
    }

    /// Acks a job that ended before (finished, cancelled, expired), answering a waiting gateway
    /// from the stored result. A terminal `record` found on redelivery gets its terminal event
    /// published again (deduplicated by its message id): the worker that ended it may have died
    /// between the record write and the event, or the event's stream was electing a leader, and
    /// followers and webhooks wait for the event. So the job is acked only once the event is
    /// stored; until then it is handed back with a growing delay.
    private func answerAgain(_ message: JetStreamMessage, record: JobRecord?, reply: String?, id: String? = nil, logger: Logger) async {
        guard let id = record?.id ?? id else { return }
        if let reply, let answer = try? await store.result(id) {
            try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id))
        }
        if let record {
            do {
                try await store.publishEnd(of: record)
            } catch {
                let delay = Duration.seconds(min(30, message.deliveryCount))
                logger.warning("cannot publish the end of the job; handing it back", metadata: ["error": "\(error)", "delay": "\(delay)"])
                try? message.nak(delay: delay)
                return
            }
        }
        try? message.ack()
    }

    /// Puts a retryable failure back in the queue with a backoff.
    private func retryLater(_ message: JetStreamMessage, attempt: Int, id: String, outcome: JobOutcome, cursor: RecordCursor, logger: Logger) async {
        let delay = configuration.backoff(afterAttempt: attempt)
        logger.info("attempt failed; retrying", metadata: ["attempt": "\(attempt)", "delay": "\(delay)", "error": "\(outcome.error ?? "")"])
        WorkerMetrics.retried(service: service.name)
        _ = try? await store.update(id, from: cursor.current) { record in
            guard !record.state.isTerminal else { return false }
            record.state = .queued
            record.error = "Attempt \(attempt) failed: \(outcome.error ?? "failed")"
            return true
        }
        try? message.nak(delay: delay)
    }

    /// A job delivered more often than `maxAttempts` (its worker crashed or stalled each time,
    /// or retries ran out): fail it and dead-letter it, unless it ended meanwhile.
    private func giveUp(
        _ message: JetStreamMessage, attempts: Int, id: String, reply: String?, since taken: ContinuousClock.Instant, logger: Logger
    ) async {
        logger.warning("job out of attempts; dead-lettering it", metadata: ["attempts": "\(attempts)"])
        await end(message, id: id, reply: reply, since: taken, logger: logger) { answerGateway in
            let last = (try? await store.record(id))?.record.error
            let error = last ?? "No answer after \(attempts) attempts (the worker crashed or stalled each time)."
            let problem = Problem.jobFailed(status: 500, message: error, jobID: id)
            let answer = JobAnswer(status: 500, contentType: Problem.mediaType, body: problem.encoded())
            let ended = try await store.finish(id, service: service.name, answer: answer, state: .failed, error: error, beforeEvent: answerGateway)
            if ended.state == .failed {
                WorkerMetrics.deadLettered(kind: "job")
                try await store.deadLetter(
                    .job, id: id, service: service.name, payload: message.payload, contentType: message.headers[Headers.contentType],
                    attempts: attempts, error: error, owner: message.headers[Headers.owner])
            }
            return ended
        }
    }

    /// Marks the record running. On a first delivery the record is the one the gateway created
    /// (rebuilt from the message's headers and written against its revision); otherwise, or if
    /// that write conflicts, it is read first.
    private func start(_ id: String, message: JetStreamMessage) async throws -> Start {
        let now = Timestamp.now
        var guess: StoredRecord? = nil
        if message.deliveryCount == 1,
            let revision = message.headers[Headers.recordRevision].flatMap(UInt64.init),
            let created = message.headers[Headers.created].flatMap({ Timestamp(rfc3339: $0) })
        {
            // The gateway sends the revision only for records it can be rebuilt from: the
            // headers carry every field it set.
            var record = JobRecord(id: id, service: service.name, lane: .durable, createdAt: created)
            record.deadline = message.headers[Headers.deadline].flatMap { Timestamp(rfc3339: $0) }
            record.owner = message.headers[Headers.owner]
            record.priority = message.subject.split(separator: ".").last.flatMap { Priority(rawValue: String($0)) }
            record.traceparent = message.headers[Headers.traceparent]
            guess = StoredRecord(record: record, revision: revision)
        }
        let written = try await store.update(id, from: guess) { record in
            guard !record.state.isTerminal else { return false }
            record.state = .running
            // Attempts count starts, not only deliveries: older servers can reset a message's
            // delivery count (`ServerCapabilities.keepsDeliveryCountOnNak`).
            record.attempts = max(record.attempts + 1, message.deliveryCount)
            record.startedAt = record.startedAt ?? now
            record.worker = configuration.workerID
            return true
        }
        if let written { return .running(written) }
        // Only an ended record means the job is done: a read served by a replica that lags can
        // miss a record just created (the create-only write below then fails and the job is
        // handed back to try again).
        if let existing = try await store.record(id), existing.record.state.isTerminal { return .finished(existing.record) }
        // The gateway's record is gone (retention ended): keep the job visible anyway.
        var record = JobRecord(id: id, service: service.name, lane: .durable, state: .running)
        record.attempts = message.deliveryCount
        record.startedAt = now
        record.worker = configuration.workerID
        return .running(StoredRecord(record: record, revision: try await store.create(record)))
    }

    /// Runs the handler while heartbeating the message; a cancel request cancels it. Returns
    /// nil when the worker is stopping or the job was cancelled and the handler gave up.
    private func runWithHeartbeat(
        _ message: JetStreamMessage, token: CancelToken, _ body: @escaping @Sendable () async throws -> JobAnswer
    ) async -> JobOutcome? {
        let id = message.headers[Headers.jobID] ?? ""
        let handler = Task { await JobOutcome.of(jobID: id, body) }
        token.onCancel { handler.cancel() }
        let outcome = await message.keepingInProgress(every: configuration.heartbeatInterval) {
            await withTaskCancellationHandler { await handler.value } onCancel: { handler.cancel() }
        }
        return outcome
    }
}
