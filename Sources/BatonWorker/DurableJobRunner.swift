import BatonCore
import BatonNATS
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
        var logger = self.logger
        logger[metadataKey: "job"] = "\(id)"
        let reply = message.headers[Headers.replyTo]
        let token = cancellations.register(id)
        defer { cancellations.done(id) }
        let deadline = message.headers[Headers.deadline].flatMap { Timestamp(rfc3339: $0) }

        if let deadline, deadline < .now {
            await end(message, id: id, reply: reply, logger: logger) {
                try await store.expire(id, service: service.name, from: nil).answer
            }
            return
        }
        if message.deliveryCount > configuration.maxAttempts {
            await giveUp(message, id: id, reply: reply, logger: logger)
            return
        }

        let cursor: RecordCursor
        do {
            switch try await start(id, message: message) {
            case .finished(let record):
                logger.info("job already \(record.state.rawValue); acknowledging redelivery")
                await answerAgain(message, id: id, reply: reply)
                return
            case .running(let stored):
                cursor = RecordCursor(stored)
            }
        } catch {
            logger.warning("cannot start job; handing it back", metadata: ["error": "\(error)"])
            try? message.nak(delay: .seconds(1))
            return
        }

        let job = Job(
            id: id, service: service.name, lane: .durable, input: message.payload,
            contentType: message.headers[Headers.contentType], attempt: message.deliveryCount, deadline: deadline
        )
        let context = JobContext(job: job, connection: connection, store: store, cursor: cursor, logger: logger)
        guard let outcome = await runWithHeartbeat(message, token: token, { try await service.handler(job, context) }) else {
            if token.isCancelled {
                logger.info("job cancelled by the client")
                await answerAgain(message, id: id, reply: reply)
            } else {
                logger.info("worker stopping mid-job; handing it back")
                try? message.nak()
            }
            return
        }

        if outcome.state == .failed, outcome.retryable, !token.isCancelled {
            if message.deliveryCount < configuration.maxAttempts {
                await retryLater(message, id: id, outcome: outcome, cursor: cursor, logger: logger)
                return
            }
            await end(message, id: id, reply: reply, logger: logger) {
                let ended = try await store.finish(
                    id, service: service.name, answer: outcome.answer, state: .failed, error: outcome.error,
                    worker: configuration.workerID, from: cursor.current)
                if ended.state == .failed {
                    try await store.deadLetter(
                        .job, id: id, service: service.name, payload: message.payload, contentType: message.headers[Headers.contentType],
                        attempts: message.deliveryCount, error: outcome.error ?? "failed")
                }
                return ended.answer
            }
            return
        }

        let connection = self.connection
        await end(message, id: id, reply: nil, logger: logger) {
            try await store.finish(
                id, service: service.name, answer: outcome.answer, state: outcome.state, error: outcome.error,
                worker: configuration.workerID, from: cursor.current,
                beforeEvent: { answer in
                    if let reply { try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id)) }
                }
            ).answer
        }
    }

    /// Runs `ending` (which stores the job's end and returns the stored answer), answers the
    /// waiting gateway if `reply` is set, and acks; hands the job back if NATS failed.
    private func end(
        _ message: JetStreamMessage, id: String, reply: String?, logger: Logger, _ ending: () async throws -> JobAnswer
    ) async {
        do {
            let answer = try await ending()
            if let reply { try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id)) }
            try message.ack()
            logger.debug("job done", metadata: ["status": "\(answer.status)"])
        } catch {
            logger.warning("cannot record the end of the job; handing it back", metadata: ["error": "\(error)"])
            try? message.nak(delay: .seconds(1))
        }
    }

    /// Acks a job that ended before (finished, cancelled, expired), answering a waiting gateway
    /// from the stored result.
    private func answerAgain(_ message: JetStreamMessage, id: String, reply: String?) async {
        if let reply, let answer = try? await store.result(id) {
            try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id))
        }
        try? message.ack()
    }

    /// Puts a retryable failure back in the queue with a backoff.
    private func retryLater(_ message: JetStreamMessage, id: String, outcome: JobOutcome, cursor: RecordCursor, logger: Logger) async {
        let attempt = message.deliveryCount
        let delay = configuration.backoff(afterAttempt: attempt)
        logger.info("attempt failed; retrying", metadata: ["attempt": "\(attempt)", "delay": "\(delay)", "error": "\(outcome.error ?? "")"])
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
    private func giveUp(_ message: JetStreamMessage, id: String, reply: String?, logger: Logger) async {
        let attempts = message.deliveryCount - 1
        logger.warning("job out of attempts; dead-lettering it", metadata: ["attempts": "\(attempts)"])
        await end(message, id: id, reply: reply, logger: logger) {
            let last = (try? await store.record(id))?.record.error
            let error = last ?? "No answer after \(attempts) attempts (the worker crashed or stalled each time)."
            let problem = Problem.jobFailed(status: 500, message: error, jobID: id)
            let answer = JobAnswer(status: 500, contentType: Problem.mediaType, body: problem.encoded())
            let ended = try await store.finish(id, service: service.name, answer: answer, state: .failed, error: error)
            if ended.state == .failed {
                try await store.deadLetter(
                    .job, id: id, service: service.name, payload: message.payload, contentType: message.headers[Headers.contentType],
                    attempts: attempts, error: error)
            }
            return ended.answer
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
            guess = StoredRecord(record: record, revision: revision)
        }
        let written = try await store.update(id, from: guess) { record in
            guard !record.state.isTerminal else { return false }
            record.state = .running
            record.attempts = message.deliveryCount
            record.startedAt = record.startedAt ?? now
            record.worker = configuration.workerID
            return true
        }
        if let written { return .running(written) }
        if let existing = try await store.record(id) { return .finished(existing.record) }
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
