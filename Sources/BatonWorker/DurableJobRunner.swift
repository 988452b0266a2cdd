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
/// 2. a job that ended already (cancelled while queued, or finished by an earlier delivery) is
///    answered again from its stored end and acked, not run;
/// 3. run the handler, heartbeating (`+WPI`) so a long job is not redelivered while alive, and
///    cancelling it when `baton.cancel.<job>` says so; its record is marked `running` once it
///    has run for `runningMarkDelay` (at once on a redelivery, which counts an attempt);
/// 4. a retryable failure with attempts left goes back to `queued` and is handed back with a
///    backoff (`-NAK` with delay); otherwise end the job with one write, its answer entry
///    (`JobStore.finish`, first end wins); a retryable failure on its last attempt is also
///    copied to `BATON_DLQ`;
/// 5. answer the waiting gateway, publish the terminal event if the job has a webhook, and only
///    then ack.
///
/// When NATS fails on the way, the job is handed back (`-NAK`) and runs again later; when the
/// worker stops mid-job, likewise. A first delivery whose record the gateway built from the
/// headers alone (`Baton-Record: headers`) costs one read (has it ended?) and, past the mark's
/// delay, one write of the record; its end is one more write.
///
/// A class: a job's steps and its deferred running mark each hold the runner, and a struct's
/// copy retained each of its fields (the service's strings and handler, the configuration's
/// layout, the logger): ~1% of a worker's CPU under load, and bigger async frames.
final class DurableJobRunner: Sendable {
    let service: ServiceDefinition
    let connection: NATSConnection
    let store: JobStore
    let cancellations: Cancellations
    let configuration: WorkerConfiguration
    let logger: Logger
    /// This process's `$SRV.STATS` counters for the service.
    let stats: MicroEndpointStats
    /// A delivery count of 1 means a first attempt: false on servers that reset the count of a
    /// handed-back message (`ServerCapabilities.keepsDeliveryCountOnNak`), where every delivery
    /// reads the record to count its attempt.
    let deliveryCountIsExact: Bool

    init(
        service: ServiceDefinition, connection: NATSConnection, store: JobStore, cancellations: Cancellations,
        configuration: WorkerConfiguration, logger: Logger, stats: MicroEndpointStats, deliveryCountIsExact: Bool
    ) {
        self.service = service
        self.connection = connection
        self.store = store
        self.cancellations = cancellations
        self.configuration = configuration
        self.logger = logger
        self.stats = stats
        self.deliveryCountIsExact = deliveryCountIsExact
    }

    /// An attempt that started.
    private struct Attempt: Sendable {
        let cursor: RecordCursor
        let number: Int
        let startedAt: Timestamp
        /// The job has a webhook: its end is announced on `baton.done.<service>.<job>`.
        let webhook: Bool
    }

    private enum Start {
        case running(Attempt)
        case ended(StoredRecord)
        /// A copy of a job the gateway queued again (`JobRecord.queuedAs`) that is not the one
        /// that may run it.
        case stale
    }

    func process(_ message: JetStreamMessage) async {
        guard let delivery = Delivery(message, logger: logger) else {
            logger.error("job message without a valid job id; terminating it", metadata: ["subject": "\(message.subject)"])
            try? message.terminate()
            return
        }
        let token = cancellations.register(delivery.id)
        defer { cancellations.done(delivery.id) }
        let inFlight = WorkerMetrics.inFlight(service: service.name)
        inFlight.increment()
        defer { inFlight.decrement() }
        WorkerMetrics.queueDepth(service: service.name, pending: message.pending)
        if message.deliveryCount > 1 { WorkerMetrics.redelivered(service: service.name) }
        await run(delivery, token: token)
    }

    @inline(never) private func run(_ delivery: Delivery, token: CancelToken) async {
        let (message, id, trace, logger, reply, taken) = (delivery.message, delivery.id, delivery.trace, delivery.logger, delivery.reply, delivery.taken)
        let (deadline, headersOnly) = (delivery.deadline, delivery.headersOnly)
        if let deadline, deadline < .now {
            await end(message, id: id, reply: reply, since: taken, logger: logger) { answerGateway in
                let webhook = headersOnly ? false : try await store.record(id)?.record.webhook != nil
                return try await store.expire(id, service: service.name, webhook: webhook, origin: delivery.origin, beforeEvent: answerGateway)
            }
            return
        }
        // Attempts count starts (see `start`); deliveries also grow while JetStream is
        // unavailable and a job cannot start, which must not dead-letter it. This bound only
        // stops a message that can never start from cycling forever.
        if message.deliveryCount > configuration.maxAttempts * 10 {
            await giveUp(message, attempts: message.deliveryCount - 1, id: id, origin: delivery.origin, reply: reply, since: taken, logger: logger)
            return
        }

        let attempt: Attempt
        do {
            switch try await start(id, message: message, headersOnly: headersOnly, cancelDeletes: delivery.cancelDeletes, token: token) {
            case .ended(let stored):
                logger.info("job already \(stored.record.state.rawValue); acknowledging redelivery")
                await answerAgain(message, id: id, stored: stored, reply: reply, logger: logger)
                return
            case .running(let started):
                attempt = started
            case .stale:
                logger.info("a stale copy of a job queued again; acknowledging it unrun", metadata: ["copy": "\(message.headers[Headers.queuedAs] ?? "first")"])
                try? message.ack()
                return
            }
        } catch {
            // JetStream unavailable (a node died, leaders are being elected): not an attempt;
            // hand it back with a growing delay.
            let delay = Duration.seconds(min(30, message.deliveryCount))
            logger.warning("cannot start job; handing it back", metadata: ["error": "\(error)", "delay": "\(delay)"])
            try? message.nak(delay: delay)
            return
        }

        if attempt.number > configuration.maxAttempts {  // earlier starts ended without an answer (crashes, stalls)
            _ = attempt.cursor.abandon()
            await giveUp(message, attempts: attempt.number - 1, id: id, origin: delivery.origin, reply: reply, since: taken, logger: logger)
            return
        }

        let span = configuration.tracer?.take(
            id, service: service.name, priority: Subjects.priority(ofJob: message.subject), delivery: attempt.number, trace: trace,
            headers: message.headers)
        let job = Job(
            id: id, service: service.name, lane: .durable, input: message.payload,
            contentType: message.headers[Headers.contentType], attempt: attempt.number, deadline: deadline,
            trace: span?.trace ?? trace
        )
        let context = JobContext(job: job, connection: connection, store: store, cursor: attempt.cursor, logger: logger)
        let (stats, handler) = (stats, service.handler)
        let outcome = await runWithHeartbeat(
            message, token: token, deferredMark: attempt.cursor, { try await stats.measure { try await handler(job, context) } })
        await conclude(delivery, attempt: attempt, outcome: outcome, token: token, span: span)
    }

    /// What follows a handler's run: hand back, retry later, or end the job.
    @inline(never) private func conclude(_ delivery: Delivery, attempt: Attempt, outcome: JobOutcome?, token: CancelToken, span: JobSpan?) async {
        let (message, id, logger, reply, taken) = (delivery.message, delivery.id, delivery.logger, delivery.reply, delivery.taken)
        span?.end(outcome, reason: token.isCancelled ? "cancelled" : "worker stopping")
        guard let outcome else {
            _ = attempt.cursor.abandon()
            if token.isCancelled {
                logger.info("job cancelled by the client")
                WorkerMetrics.finished(service: service.name, state: JobState.cancelled.rawValue, duration: ContinuousClock.now - taken)
                await answerAgain(message, id: id, stored: nil, reply: reply, logger: logger)
            } else {
                logger.info("worker stopping mid-job; handing it back")
                try? message.nak()
            }
            return
        }

        if outcome.state == .failed, outcome.retryable, !token.isCancelled, attempt.number < configuration.maxAttempts {
            await retryLater(message, attempt: attempt, id: id, outcome: outcome, logger: logger)
            return
        }
        // The job list reads records, and a call answered within its wait has none
        // (`Baton-Record: headers`): one that did not succeed gets its running mark now, so that
        // it is listed. Any other end skips the mark: the end says when it started.
        if delivery.headersOnly, outcome.state != .succeeded { _ = await attempt.cursor.current() }
        _ = attempt.cursor.abandon()
        var ending = JobEnding(
            answer: outcome.answer, state: outcome.state, service: service.name, startedAt: attempt.startedAt,
            attempts: attempt.number, error: outcome.error, worker: configuration.workerID, progress: attempt.cursor.lastProgress)
        ending.origin = delivery.origin
        await end(message, id: id, reply: reply, since: taken, logger: logger) { answerGateway in
            let ended = try await store.finish(id, by: .worker, ending: ending, webhook: attempt.webhook, beforeEvent: answerGateway)
            if outcome.retryable, ended.state == .failed {  // out of attempts
                WorkerMetrics.deadLettered(kind: "job")
                try await store.deadLetter(
                    .job, id: id, service: service.name, payload: message.payload, contentType: message.headers[Headers.contentType],
                    attempts: attempt.number, error: outcome.error ?? "failed", owner: message.headers[Headers.owner])
            }
            return ended
        }
    }

    /// Runs `ending`, which stores the job's end and calls the closure it gets with the stored
    /// answer before the terminal event (so a waiting gateway answers its client as early as
    /// possible); then acks.
    ///
    /// When NATS fails on the way (a stream electing a leader takes seconds), the end is tried
    /// again here, with the message kept in progress, for up to `endRetryLimit`: the answer is
    /// known, and handing the job back would run it again and spend an attempt on NATS's
    /// trouble. `ending` is idempotent (first end wins; the event has a message id). Past the
    /// limit, or when the worker stops, the job is handed back.
    @inline(never) private func end(
        _ message: JetStreamMessage, id: String, reply: String?, since taken: ContinuousClock.Instant, logger: JobLogger,
        _ ending: (_ answerGateway: @escaping (JobAnswer) -> Void) async throws -> JobEnding
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
    /// from its stored end. An ended job with a webhook found on redelivery gets its terminal
    /// event published again (deduplicated by its message id): the worker that ended it may have
    /// died between its end and the event, or the event's stream was electing a leader, and the
    /// webhook dispatchers wait for the event. So the job is acked only once the event is
    /// stored; until then it is handed back with a growing delay.
    @inline(never) private func answerAgain(_ message: JetStreamMessage, id: String, stored: StoredRecord?, reply: String?, logger: JobLogger) async {
        if let reply {
            var answer = stored?.ending?.answer
            if answer == nil { answer = try? await store.result(id) }
            if let answer { try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id)) }
        }
        if let stored, stored.record.webhook != nil, let ending = stored.ending {
            do {
                try await store.publishEnd(of: id, service: stored.record.service, ending: ending)
            } catch {
                let delay = Duration.seconds(min(30, message.deliveryCount))
                logger.warning("cannot publish the end of the job; handing it back", metadata: ["error": "\(error)", "delay": "\(delay)"])
                try? message.nak(delay: delay)
                return
            }
        }
        try? message.ack()
    }

    /// Puts a retryable failure back in the queue with a backoff. A running mark not written
    /// yet is not written now: the retry reads the record instead.
    @inline(never) private func retryLater(_ message: JetStreamMessage, attempt: Attempt, id: String, outcome: JobOutcome, logger: JobLogger) async {
        let delay = configuration.backoff(afterAttempt: attempt.number)
        logger.info("attempt failed; retrying", metadata: ["attempt": "\(attempt.number)", "delay": "\(delay)", "error": "\(outcome.error ?? "")"])
        WorkerMetrics.retried(service: service.name)
        _ = try? await store.update(id, from: attempt.cursor.abandon(), .retry, by: .worker) { record in
            record.attempts = max(record.attempts, attempt.number)
            record.startedAt = record.startedAt ?? attempt.startedAt
            record.error = "Attempt \(attempt.number) failed: \(outcome.error ?? "failed")"
            return true
        }
        try? message.nak(delay: delay)
    }

    /// A job delivered more often than `maxAttempts` (its worker crashed or stalled each time,
    /// or retries ran out): fail it and dead-letter it, unless it ended meanwhile.
    @inline(never) private func giveUp(
        _ message: JetStreamMessage, attempts: Int, id: String, origin: JobOrigin?, reply: String?, since taken: ContinuousClock.Instant,
        logger: JobLogger
    ) async {
        logger.warning("job out of attempts; dead-lettering it", metadata: ["attempts": "\(attempts)"])
        await end(message, id: id, reply: reply, since: taken, logger: logger) { answerGateway in
            let stored = try await store.record(id)
            let error = stored?.record.error ?? "No answer after \(attempts) attempts (the worker crashed or stalled each time)."
            let problem = Problem.jobFailed(status: 500, message: error, jobID: id)
            var proposed = JobEnding(
                answer: JobAnswer(status: 500, contentType: Problem.mediaType, body: problem.encoded()), state: .failed,
                service: service.name, startedAt: stored?.record.startedAt, attempts: attempts, error: error)
            if stored == nil { proposed.origin = origin }
            let ended = try await store.finish(
                id, by: .deadLetter, ending: proposed, webhook: stored?.record.webhook != nil, beforeEvent: answerGateway)
            if ended.state == .failed {
                WorkerMetrics.deadLettered(kind: "job")
                try await store.deadLetter(
                    .job, id: id, service: service.name, payload: message.payload, contentType: message.headers[Headers.contentType],
                    attempts: attempts, error: error, owner: message.headers[Headers.owner])
            }
            return ended
        }
    }

    /// Starts an attempt. A first delivery whose record the gateway built from the headers
    /// alone defers its running mark; it looks for an end first (a cancel while the job was
    /// queued) unless the job says `Baton-Cancel: delete` — then such a cancel deleted the
    /// message, and a delivery means none came before it, unless its notice is here already
    /// (`token`: the cancel's delete raced the delivery). Any other delivery reads the record
    /// and marks it running at once (the mark counts the attempt: older servers can reset a
    /// message's delivery count, `ServerCapabilities.keepsDeliveryCountOnNak`).
    @inline(never) private func start(
        _ id: String, message: JetStreamMessage, headersOnly: Bool, cancelDeletes: Bool, token: CancelToken
    ) async throws -> Start {
        let now = Timestamp.now
        if headersOnly, message.deliveryCount == 1, deliveryCountIsExact {
            let noCancelBefore = cancelDeletes && !token.isCancelled
            if !noCancelBefore, let entry = try await store.results.get(id), let ending = JobEnding(headers: entry.headers, body: entry.value) {
                return .ended(StoredRecord(record: JobRecord(id: id, ending: ending), revision: 0, ending: ending))
            }
            // The mark is built only if it is written: most jobs end first.
            let cursor = RecordCursor(
                deferring: { [self] in
                    var record = try rebuiltRecord(id, message: message)
                    try record.apply(.start, by: .worker)
                    record.attempts = 1
                    record.startedAt = now
                    record.updatedAt = now
                    record.worker = configuration.workerID
                    return try await store.overwrite(record, by: .worker)
                })
            return .running(Attempt(cursor: cursor, number: 1, startedAt: now, webhook: false))
        }
        return try await startFromRecord(id, message: message, headersOnly: headersOnly, now: now)
    }

    /// Starts an attempt by reading the record and marking it running (any delivery but a
    /// first one of a job recorded from its headers). Out of line: an async function's frame is
    /// sized for all its paths, and the common one above needs a small one.
    @inline(never) private func startFromRecord(_ id: String, message: JetStreamMessage, headersOnly: Bool, now: Timestamp) async throws -> Start {
        // Twice at most: a record that lands between the read and the create below (the
        // gateway writes it with the job, so the job can come first) is read again.
        let copy = message.headers[Headers.queuedAs]
        var stale = false
        for _ in 0..<2 {
            let written = try await store.update(id, .start, by: .worker) { record in
                guard record.queuedAs == copy else {
                    stale = true
                    return false
                }
                record.attempts = max(record.attempts + 1, message.deliveryCount)
                record.startedAt = record.startedAt ?? now
                record.worker = configuration.workerID
                record.publishing = nil  // delivered: stored, whether or not its gateway saw it
                return true
            }
            if stale { return .stale }
            if let written {
                return .running(
                    Attempt(
                        cursor: RecordCursor(written), number: written.record.attempts, startedAt: written.record.startedAt ?? now,
                        webhook: written.record.webhook != nil))
            }
            // Only an ended job is done: a read served by a replica that lags can miss a record
            // just created (the create-only write below then fails and the record is read again).
            if let existing = try await store.record(id), existing.record.state.isTerminal { return .ended(existing) }
            // No record: the gateway's has not landed yet (`Baton-Record: headers`: rebuilt from
            // the headers, so none of its fields is lost) or is gone (retention ended).
            var record: JobRecord
            if headersOnly {
                record = try rebuiltRecord(id, message: message)
                try record.apply(.start, by: .worker)
            } else {
                record = try JobRecord(.restore, by: .worker, id: id, service: service.name, lane: .durable)
            }
            record.attempts = message.deliveryCount
            record.startedAt = now
            record.worker = configuration.workerID
            record.queuedAs = copy
            do {
                let revision = try await store.create(record, by: .worker)
                return .running(
                    Attempt(cursor: RecordCursor(StoredRecord(record: record, revision: revision)), number: record.attempts, startedAt: now, webhook: false))
            } catch let error as NATSError where error.kind == .wrongLastSequence {
                continue
            }
        }
        throw NATSError(.wrongLastSequence, "the record of job \(id) kept changing while the job started")
    }

    /// The record as the gateway created it, from the job's headers (`Baton-Record: headers`).
    private func rebuiltRecord(_ id: String, message: JetStreamMessage) throws -> JobRecord {
        let origin = Self.origin(of: message)
        var record = try JobRecord(.accept, by: .gateway, id: id, service: service.name, lane: .durable, createdAt: origin.createdAt ?? .now)
        record.deadline = message.headers[Headers.deadline].flatMap { Timestamp(rfc3339: $0) }
        record.owner = origin.owner
        record.priority = origin.priority
        record.traceparent = message.headers[Headers.traceparent]
        if message.headers[Headers.cancel] == "delete" { record.queueSequence = message.streamSequence }
        return record
    }

    /// Runs the handler while heartbeating the message; a cancel request cancels it. Returns
    /// nil when the worker is stopping or the job was cancelled and the handler gave up. A
    /// running mark the cursor defers is written `runningMarkDelay` into the run, on the
    /// heartbeat's timer.
    private func runWithHeartbeat(
        _ message: JetStreamMessage, token: CancelToken, deferredMark cursor: RecordCursor,
        _ body: @escaping @Sendable () async throws -> JobAnswer
    ) async -> JobOutcome? {
        let id = message.headers[Headers.jobID] ?? ""
        let handler = Task { await JobOutcome.of(jobID: id, body) }
        token.onCancel { handler.cancel() }
        let mark = cursor.defersMark ? (after: configuration.runningMarkDelay, action: { @Sendable in cursor.writeDeferredMark() }) : nil
        let outcome = await message.keepingInProgress(every: configuration.heartbeatInterval, also: mark) {
            await withTaskCancellationHandler { await handler.value } onCancel: { handler.cancel() }
        }
        return outcome
    }
}
