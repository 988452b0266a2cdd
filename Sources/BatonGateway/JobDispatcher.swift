import BatonCore
import BatonNATS
import BatonObservability
import BatonStore
import Logging
import NIOCore

/// What a client asked for when it submitted a job.
struct SubmitOptions: Sendable {
    /// The job's id (fresh, or the one an idempotency key claimed).
    var id: String = JobID.make()
    /// How long the client waits for the answer (`.zero`: `respond-async`).
    var wait: Duration
    /// When the job must have started by.
    var deadline: Timestamp?
    /// The webhook to call when the job ends (validated).
    var callbackURL: String?
    /// The durable lane's priority: `baton.jobs.<service>.<priority>`.
    var priority: Priority = .normal
    /// The API key name that owns the job (when keys are on).
    var owner: String?
    /// The trace the job continues (`traceparent`, `tracestate`).
    var trace: TraceContext
    /// Record the job before running it even on the fast lane (idempotent requests must be
    /// findable while they run).
    var recordUpFront = false

    /// The webhook status a new record starts with: `held` while a client waits synchronously
    /// (until the wait ends at the latest), `pending` for `respond-async`.
    func webhook(created: Timestamp) -> WebhookStatus? {
        guard let callbackURL else { return nil }
        if wait == .zero { return WebhookStatus(url: callbackURL, state: .pending) }
        return WebhookStatus(url: callbackURL, state: .held, holdUntil: created.adding(wait + .seconds(2)))
    }
}

/// What became of a submitted job within the client's wait.
enum Submission: Sendable {
    /// The worker answered in time.
    case answered(id: String, JobAnswer)
    /// The job is durable (or known) and runs on; the client gets `202`.
    case accepted(JobRecord)
}

/// Sends jobs to workers and waits for their answers on this gateway's inbox.
///
/// Durable lane: record the job (`queued`), publish it to `baton.jobs.<service>.normal` with the
/// job id as message id (so a retried publish is not a second job) and the reply subject in
/// `Baton-Reply`; then wait. Fast lane: a core NATS request to `baton.svc.<service>`; the job is
/// recorded only if the wait elapses, and the gateway keeps listening for the answer to record it.
struct JobDispatcher: Sendable {
    let connection: NATSConnection
    let jetStream: JetStream
    let store: JobStore
    /// This gateway's own queue bound, when it is tighter than the jobs stream's.
    let admission: QueueAdmission
    let configuration: GatewayConfiguration
    let logger: Logger
    /// Fast-lane answers still to record after the client got its `202`; a stopping gateway
    /// waits for them.
    let background: BackgroundWork

    func submit(
        service: ServiceRegistration, input: ByteBuffer, contentType: String?, options: SubmitOptions
    ) async throws -> Submission {
        GatewayMetrics.submitted(service: service.name, lane: service.lane.rawValue)
        if options.wait > .zero { GatewayMetrics.waiting.increment() }
        defer { if options.wait > .zero { GatewayMetrics.waiting.decrement() } }
        let submission: Submission
        switch service.lane {
        case .durable: submission = try await submitDurable(service: service.name, input: input, contentType: contentType, options: options)
        case .fast: submission = try await submitFast(service: service.name, input: input, contentType: contentType, options: options)
        }
        if options.callbackURL != nil, options.wait > .zero { await settleHeldWebhook(submission) }
        return submission
    }

    /// A held webhook is `skipped` when the client got the answer on its call, `pending` when
    /// the call switched to `202` (the dispatcher would otherwise wait for `holdUntil`).
    private func settleHeldWebhook(_ submission: Submission) async {
        let (id, answered): (String, Bool) =
            switch submission {
            case .answered(let id, _): (id, true)
            case .accepted(let record): (record.id, false)
            }
        do {
            try await store.update(id, by: .gateway) { record in
                guard record.webhook?.state == .held else { return false }
                record.webhook?.state = answered ? .skipped : .pending
                return true
            }
        } catch {
            logger.warning("webhook state not settled; the dispatcher decides at its hold time", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }

    // MARK: - Durable lane

    /// Queues the job, then waits for its answer (when the client waits). The queueing runs in
    /// a child task: a task keeps the memory of the deepest call chain it ran until it ends (the
    /// task allocator reuses its slabs, it does not return them), so a held call whose task did
    /// the record write and the publish itself held ~20 KB more through its whole wait.
    private func submitDurable(service: String, input: ByteBuffer, contentType: String?, options: SubmitOptions) async throws -> Submission {
        let (record, replyTo) = try await inChildTask {
            try await self.queueDurable(service: service, input: input, contentType: contentType, options: options)
        }
        guard let replyTo else { return .accepted(record) }
        if let reply = await connection.waitForReply(on: replyTo, timeout: options.wait, interruptible: true) {
            return .answered(id: record.id, JobAnswer(headers: reply.headers, body: reply.payload))
        }
        return .accepted((try? await store.record(record.id)?.record) ?? record)
    }

    /// Records and publishes a durable job; returns its record and the subject its answer comes
    /// to (when the client waits).
    private func queueDurable(
        service: String, input: ByteBuffer, contentType: String?, options: SubmitOptions
    ) async throws -> (JobRecord, replyTo: String?) {
        let id = options.id
        let wait = options.wait
        var record = try JobRecord(.accept, by: .gateway, id: id, service: service, lane: .durable)
        record.deadline = options.deadline
        record.webhook = options.webhook(created: record.createdAt)
        record.owner = options.owner
        record.traceparent = options.trace.traceparent
        record.priority = options.priority
        var headers = jobHeaders(id: id, contentType: contentType, created: record.createdAt, options: options)
        let replyTo = wait > .zero ? connection.makeReplySubject() : nil
        headers[Headers.replyTo] = replyTo
        // A record with nothing the headers do not carry is written together with the job and
        // may be overwritten by the worker's running mark without a read. One with a webhook or
        // an idempotency key is written first: a retry must find it before anything runs.
        let together = record.webhook == nil && !options.recordUpFront
        if together { headers[Headers.record] = "headers" }
        let subject = Subjects.job(service: service, priority: options.priority)
        do {
            // A tighter bound of this gateway's own than the stream's: refused like a publish to
            // a full subject.
            guard try await admission.admit(service: service, priority: options.priority) else {
                throw NATSError(.streamFull, "this gateway's --max-queued (\(admission.bound)) reached")
            }
            if together {
                try await createAndPublish(record, input, to: subject, headers: headers)
            } else {
                record = try await createThenPublish(record, input, to: subject, headers: headers)
            }
        } catch {
            if let replyTo { connection.discardReplySubject(replyTo) }
            let full = (error as? NATSError)?.kind == .streamFull
            if !full { logger.error("job not queued", metadata: ["job": "\(id)", "error": "\(error)"]) }
            if full { throw Problem.queueFull(service, retryAfter: configuration.queueFullRetryAfter) }
            throw Problem.unavailable("The job could not be queued (NATS JetStream unavailable); retry later.")
        }
        return (record, replyTo)
    }

    /// Writes the record and publishes the job at once: one round trip instead of two. The
    /// worker's running mark may land before the record (the create then finds it: fine). A
    /// job published without its record still runs (its worker records it), so a record that
    /// cannot be written is retried once and then only logged; a job that cannot be published
    /// marks its record `failed` (the client gets a 503 and the job never runs).
    private func createAndPublish(_ record: JobRecord, _ input: ByteBuffer, to subject: String, headers: NATSHeaders) async throws {
        async let created = outcome { try await store.create(record, by: .gateway) }
        async let published = outcome {
            try await jetStream.publish(input, to: subject, headers: headers, messageID: record.id)
        }
        let (creation, publication) = await (created, published)
        if case .failure(let error) = publication {
            if case .success = creation { await markNotQueued(record.id, because: error) }
            throw error
        }
        guard case .failure(let error) = creation, (error as? NATSError)?.kind != .wrongLastSequence else { return }
        do {
            try await store.create(record, by: .gateway)
        } catch let error as NATSError where error.kind == .wrongLastSequence {
        } catch {
            logger.warning("job queued without its record; its worker records it", metadata: ["job": "\(record.id)", "error": "\(error)"])
        }
    }

    /// Writes the record, then publishes the job; returns the record as it stands. A record
    /// that exists already is an idempotent retry of a job whose first submit may have died
    /// before its publish: publish again (deduplicated by the job id).
    private func createThenPublish(_ record: JobRecord, _ input: ByteBuffer, to subject: String, headers: NATSHeaders) async throws -> JobRecord {
        var record = record
        do {
            try await store.create(record, by: .gateway)
        } catch let error as NATSError where error.kind == .wrongLastSequence {
            guard let existing = try await store.record(record.id) else { throw error }
            record = existing.record
            if record.state == .failed, record.status == nil, record.startedAt == nil {
                // Never queued (the first try got a 503): queue it now.
                record = try await store.update(record.id, from: existing, .requeue, by: .gateway) { record in
                    record.error = nil
                    record.finishedAt = nil
                    return true
                }?.record ?? record
            }
        }
        do {
            try await jetStream.publish(input, to: subject, headers: headers, messageID: record.id)
        } catch {
            await markNotQueued(record.id, because: error)
            throw error
        }
        return record
    }

    /// A job the gateway could not queue ends `failed` (its client gets a 503): a record must not
    /// stay `queued` for a job that is not.
    private func markNotQueued(_ id: String, because error: any Error) async {
        let full = (error as? NATSError)?.kind == .streamFull
        _ = try? await store.update(id, .notQueued, by: .gateway) { record in
            record.error = full ? "Not queued: the queue was full." : "The job could not be queued."
            record.finishedAt = .now
            return true
        }
    }

    /// Runs `body` in a child task, so that the memory its calls took goes back when it ends.
    private func inChildTask<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask(operation: body)
            return try await group.next()!
        }
    }

    private func outcome<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    // MARK: - Fast lane

    private func submitFast(service: String, input: ByteBuffer, contentType: String?, options: SubmitOptions) async throws -> Submission {
        let id = options.id
        let wait = options.wait
        let created = Timestamp.now
        let replyTo = connection.makeReplySubject()
        let request = NATSMessage(
            subject: Subjects.fast(service: service), replyTo: replyTo,
            headers: jobHeaders(id: id, contentType: contentType, created: created, options: options), payload: input)
        let connection = self.connection
        let fastLaneTimeout = configuration.fastLaneTimeout
        let webhook = options.webhook(created: created)
        let recordJob = { () async throws -> JobRecord in
            try await self.recordRunning(id: id, service: service, created: created, webhook: webhook, options: options)
        }

        if wait == .zero || options.recordUpFront {
            // The job must be known before it runs: for the 202 of respond-async, and so that an
            // idempotent retry finds it. The answer is recorded when it comes.
            let record = try await recordJob()
            try publishOrDiscard(request)
            let finishing = background.run { await finishInBackground(record: record, reply: await connection.waitForReply(on: replyTo, timeout: fastLaneTimeout)) }
            if wait == .zero { return .accepted(record) }
            let answered = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await finishing.value; return true }
                group.addTask { await connection.waitUntilInterrupted(timeout: wait); return false }
                let first = await group.next()!
                group.cancelAll()
                return first
            }
            guard answered, let answer = try? await store.result(id) else {
                return .accepted((try? await store.record(id)?.record) ?? record)
            }
            return .answered(id: id, answer)
        }
        // One wait serves the call: the subject outlives it, so the reply that comes after the
        // client's wait is not lost while the job is recorded and the gateway listens on.
        try publishOrDiscard(request)
        let sent = ContinuousClock.now
        if let reply = await connection.waitForReply(on: replyTo, timeout: min(wait, fastLaneTimeout), interruptible: true, keepingSubject: true) {
            if reply.isNoResponders {
                connection.discardReplySubject(replyTo)
                throw Problem.noWorkers(service)
            }
            return .answered(id: id, JobAnswer(headers: reply.headers, body: reply.payload))
        }
        let rest = fastLaneTimeout - (ContinuousClock.now - sent)
        guard rest > .zero else {
            connection.discardReplySubject(replyTo)
            throw Problem(type: "/problems/no-answer", title: "No answer", status: 504,
                          detail: "No fast-lane worker of '\(service)' answered.")
        }
        // The wait elapsed: record the job so it can be followed, keep listening.
        let record: JobRecord
        do {
            record = try await recordJob()
        } catch {
            connection.discardReplySubject(replyTo)
            throw error
        }
        background.run { await finishInBackground(record: record, reply: await connection.waitForReply(on: replyTo, timeout: rest)) }
        return .accepted(record)
    }

    private func publishOrDiscard(_ request: NATSMessage) throws {
        do {
            try connection.publish(request)
        } catch {
            if let replyTo = request.replyTo { connection.discardReplySubject(replyTo) }
            throw Problem.unavailable("The job could not be sent (NATS unavailable); retry later.")
        }
    }

    private func recordRunning(
        id: String, service: String, created: Timestamp, webhook: WebhookStatus?, options: SubmitOptions
    ) async throws -> JobRecord {
        var record = try JobRecord(.acceptRunning, by: .gateway, id: id, service: service, lane: .fast, createdAt: created)
        record.webhook = webhook
        record.owner = options.owner
        record.traceparent = options.trace.traceparent
        record.attempts = 1
        record.startedAt = created
        do {
            try await store.create(record, by: .gateway)
        } catch {
            throw Problem.unavailable("The job could not be recorded (NATS JetStream unavailable); retry later.")
        }
        return record
    }

    /// Records the fast-lane answer that came after the `202` (or its absence).
    private func finishInBackground(record: JobRecord, reply: NATSMessage?) async {
        let id = record.id
        let outcome: (answer: JobAnswer, state: JobState, error: String?)
        switch reply {
        case .some(let reply) where reply.isNoResponders:
            let problem = Problem.noWorkers(record.service)
            outcome = (JobAnswer(status: 503, contentType: Problem.mediaType, body: problem.encoded()), .failed, problem.detail)
        case .some(let reply):
            let answer = JobAnswer(headers: reply.headers, body: reply.payload)
            outcome = (answer, reply.headers["Nats-Service-Error"] == nil ? .succeeded : .failed, reply.headers["Nats-Service-Error"])
        case .none:
            let problem = Problem(type: "/problems/no-answer", title: "No answer", status: 504, detail: "No fast-lane worker answered in time.", jobID: id)
            outcome = (JobAnswer(status: 504, contentType: Problem.mediaType, body: problem.encoded()), .failed, problem.detail)
        }
        do {
            let ending = JobEnding(
                answer: outcome.answer, state: outcome.state, service: record.service, startedAt: record.startedAt, attempts: 1,
                error: outcome.error)
            _ = try await store.finish(id, by: .gateway, ending: ending, webhook: record.webhook != nil)
        } catch {
            logger.error("fast-lane answer not recorded", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }

    private func jobHeaders(id: String, contentType: String?, created: Timestamp, options: SubmitOptions) -> NATSHeaders {
        var headers = NATSHeaders()
        if let deadline = options.deadline { headers[Headers.deadline] = deadline.description }
        headers[Headers.owner] = options.owner
        headers[Headers.traceparent] = options.trace.traceparent
        headers[Headers.tracestate] = options.trace.tracestate
        headers[Headers.jobID] = id
        headers[Headers.contentType] = contentType
        headers[Headers.created] = created.description
        return headers
    }
}
