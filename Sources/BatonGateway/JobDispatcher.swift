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
    /// The job whose dead letter this one replays.
    var replayOf: String?

    /// The webhook status a new record starts with: `held` while a client waits synchronously
    /// (until the wait ends at the latest), `pending` for `respond-async`.
    func webhook(created: Timestamp) -> WebhookStatus? {
        guard let callbackURL else { return nil }
        if wait == .zero { return WebhookStatus(url: callbackURL, state: .pending) }
        return WebhookStatus(url: callbackURL, state: .held, holdUntil: created.adding(wait + .seconds(2)))
    }
}

/// What became of a submitted job within the client's wait. Indirect: a held call's frames hold
/// one, and a record inline would make each of them several hundred bytes larger.
indirect enum Submission: Sendable {
    /// The worker answered in time.
    case answered(id: String, JobAnswer)
    /// The job is durable (or known) and runs on; the client gets `202`.
    case accepted(JobRecord)
}

/// A job sent whose client waits for its answer: what `JobDispatcher.answer(_:)` needs.
///
/// A class: the frames of a held call pass it along for the whole wait, and a reference keeps
/// each of them small (see `JobDispatcher.answer`).
final class PendingAnswer: Sendable {
    enum Lane: Sendable {
        /// The job is queued; its record is the `202`'s if the wait elapses. `recorded`: the
        /// record is written (else it is written only then: `JobDispatcher.queueDurable`).
        case durable(JobRecord, recorded: Bool)
        /// The job is not recorded; it is, with this creation time, if the wait elapses.
        case fast(created: Timestamp)
    }

    let id: String
    let service: String
    /// Where the worker's answer comes.
    let replyTo: String
    let options: SubmitOptions
    let lane: Lane
    /// A durable job's publish whose acknowledgement the wait for the answer takes (one
    /// resumption for both: `JobDispatcher.answerDurable`); nil when it was awaited before.
    /// Not in `lane`: matching it out of there would copy the record into the frame of the
    /// wait, which a held call keeps for its whole wait.
    let acknowledgement: SentPublish?
    /// When the job was sent (the fast lane's timeout counts from here).
    let sent = ContinuousClock.now

    init(id: String, service: String, replyTo: String, options: SubmitOptions, lane: Lane, acknowledgement: SentPublish? = nil) {
        self.id = id
        self.service = service
        self.replyTo = replyTo
        self.options = options
        self.lane = lane
        self.acknowledgement = acknowledgement
    }

    /// The record of a durable job as it was queued.
    var queuedRecord: JobRecord? {
        if case .durable(let record, _) = lane { record } else { nil }
    }
}

/// What a dispatcher's `start` did: the job's fate is known, or its client waits (holding what
/// the dispatcher's `answer` needs: `PendingAnswer` for `JobDispatcher`).
enum SubmitStart<Pending: Sendable>: Sendable {
    case ended(Submission)
    case waiting(Pending)
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

    /// Queues (or sends) the job; the client's wait is `answer(_:)`. Two calls, so that a caller
    /// can run this one in a child task: a task keeps the memory of the deepest call chain it
    /// ran until it ends, and a held call lives for its whole wait.
    func start(
        service: ServiceRegistration, input: ByteBuffer, contentType: String?, options: SubmitOptions
    ) async throws -> SubmitStart<PendingAnswer> {
        GatewayMetrics.submitted(service: service.name, lane: service.lane.rawValue)
        let started: SubmitStart<PendingAnswer>
        switch service.lane {
        case .durable: started = try await startDurable(service: service.name, input: input, contentType: contentType, options: options)
        case .fast: started = try await startFast(service: service.name, input: input, contentType: contentType, options: options)
        }
        if case .ended(let submission) = started, options.callbackURL != nil, options.wait > .zero {
            return .ended(await settleHeldWebhook(submission, pending: nil))
        }
        return started
    }

    /// Waits for the answer of a job `start` sent (the client's wait).
    ///
    /// Every frame on a held call's stack lives as long as the call, and a task keeps the
    /// memory of its deepest stack until it ends (for Hummingbird, until the connection
    /// closes). So the functions that wait keep little across the wait; whatever comes after
    /// it (recording, reading the record, settling a webhook) is in functions of its own, not
    /// inlined, whose frames are allocated only once the wait is over.
    func answer(_ pending: PendingAnswer) async throws -> Submission {
        GatewayMetrics.waiting.increment()
        defer { GatewayMetrics.waiting.decrement() }
        let submission: Submission
        switch pending.lane {
        case .durable: submission = try await answerDurable(pending)
        case .fast: submission = try await answerFast(pending)
        }
        guard pending.options.callbackURL != nil else { return submission }
        return await settleHeldWebhook(submission, pending: pending)
    }

    /// Settles a held webhook with the call's outcome; returns the outcome the client may see.
    ///
    /// While its client waits, a job's webhook is `held`, and whoever moves it first decides:
    /// this gateway (`skipped`: the client gets the answer on its call; `pending`: the call
    /// switched to `202`), or the webhook dispatcher once the hold has ended (`pending`, then
    /// it delivers). Both write by compare-and-set, so one of them wins. A gateway that loses
    /// (queueing took so long that the hold ended while the client still waited) or cannot
    /// write answers `202` instead of the answer: the webhook brings it, and no client gets
    /// an answer both on its call and by webhook.
    ///
    /// - Parameter pending: the held call, whose queued record (durable lane) is that `202`'s
    ///   when the record cannot be read.
    @inline(never) private func settleHeldWebhook(_ submission: Submission, pending: PendingAnswer?) async -> Submission {
        let known = pending?.queuedRecord
        switch submission {
        case .accepted(let record):
            do {
                _ = try await store.settleHeldWebhook(record.id, to: .pending)
            } catch {
                logger.warning("webhook state not settled; the dispatcher sends it at its hold time", metadata: ["job": "\(record.id)", "error": "\(error)"])
            }
            return submission
        case .answered(let id, _):
            do {
                if try await store.settleHeldWebhook(id, to: .skipped) { return submission }
                // Not held: skipped already, not recorded (a fast-lane job answered in time),
                // or taken by the dispatcher.
                guard let current = try await store.record(id, fromLeaders: true)?.record, let webhook = current.webhook,
                    webhook.state != .skipped
                else { return submission }
                logger.info("webhook taken by the dispatcher before the answer came; answering 202", metadata: ["job": "\(id)"])
                return .accepted(current)
            } catch {
                logger.warning("webhook state not settled; answering 202, its webhook brings the answer", metadata: ["job": "\(id)", "error": "\(error)"])
                guard let record = (try? await store.record(id)?.record) ?? known else { return submission }
                return .accepted(record)
            }
        }
    }

    // MARK: - Durable lane

    private func startDurable(service: String, input: ByteBuffer, contentType: String?, options: SubmitOptions) async throws -> SubmitStart<PendingAnswer> {
        let queued = try await queueDurable(service: service, input: input, contentType: contentType, options: options)
        guard let replyTo = queued.replyTo else { return .ended(.accepted(queued.record)) }
        return .waiting(
            PendingAnswer(
                id: queued.record.id, service: service, replyTo: replyTo, options: options,
                lane: .durable(queued.record, recorded: queued.recorded), acknowledgement: queued.acknowledgement))
    }

    /// Waits for a durable job's answer. A job whose publish is not acknowledged yet
    /// (`PendingAnswer.acknowledgement`) is waited for in the same wait as its
    /// acknowledgement: a stored job's acknowledgement comes first and wakes no one, while a
    /// refused publish, or none acknowledged within the acknowledgement's timeout, ends the
    /// wait (`SentPublish.endsWait`), and the client gets what such a publish gets before any
    /// wait (`notQueued`: the queue-full problem, else `503`).
    @inline(never) private func answerDurable(_ pending: PendingAnswer) async throws -> Submission {
        if let reply = await connection.waitForReply(on: pending.replyTo, timeout: pending.options.wait, interruptible: true) {
            pending.acknowledgement?.discard()
            return .answered(id: pending.id, JobAnswer(headers: reply.headers, body: reply.payload))
        }
        return try await acceptedAfterWait(pending)
    }

    /// The `202` of a durable job whose client's wait elapsed: its record as it stands now,
    /// written first if it was left for this moment (`queueDurable`), with the job's stream
    /// sequence from its acknowledgement when the wait took it — or the publish's error when
    /// the job was not stored.
    @inline(never) private func acceptedAfterWait(_ pending: PendingAnswer) async throws -> Submission {
        guard case .durable(var queued, let recorded) = pending.lane else { preconditionFailure("a durable job's wait") }
        if let acknowledgement = pending.acknowledgement {
            do {
                let left = acknowledgement.timeout - (ContinuousClock.now - pending.sent)
                queued.queueSequence = try await acknowledgement.ack(within: max(.zero, left)).sequence
            } catch {
                throw notQueued(pending.id, pending.service, error)
            }
        }
        if !recorded { await createRecord(queued) }
        return .accepted((try? await store.record(pending.id)?.record) ?? queued)
    }

    /// Records and publishes a durable job; returns its record, the subject its answer comes
    /// to (when the client waits), and whether the record is written.
    ///
    /// A record with nothing the job's headers do not carry (no webhook, no idempotency key, not
    /// a replay) is written after the job is stored, and only if someone may look for it: at
    /// once for `respond-async`, else once the client's wait ends without the answer. A call
    /// answered within its wait never gets one (no one but its client knows the id, and the
    /// client has the answer): its answer entry holds its end and where it came from
    /// (`JobEnding`), which is what reads of it find. That is one stored message of three per
    /// call less, the gateway's second round trip to JetStream, and ~15% of a durable call's
    /// CPU on gateway and nats-server together (bench/NOTES.md). A job whose record is not
    /// written yet still shows once it runs past the worker's running-mark delay.
    ///
    /// Such a job whose client waits is not awaited here: its acknowledgement comes with the
    /// answer's wait (`answerDurable`), so that the call's task resumes once, for the answer.
    private func queueDurable(
        service: String, input: ByteBuffer, contentType: String?, options: SubmitOptions
    ) async throws -> Queued {
        let id = options.id
        let wait = options.wait
        var record = try JobRecord(.accept, by: .gateway, id: id, service: service, lane: .durable)
        record.deadline = options.deadline
        record.webhook = options.webhook(created: record.createdAt)
        record.owner = options.owner
        record.traceparent = options.trace.traceparent
        record.priority = options.priority
        record.replayOf = options.replayOf
        var headers = jobHeaders(id: id, contentType: contentType, created: record.createdAt, options: options)
        let replyTo = wait > .zero ? connection.makeReplySubject() : nil
        headers[Headers.replyTo] = replyTo
        // A record with nothing the headers do not carry is written once the job is stored (with
        // its stream sequence, for a cancel to delete it), if at all (above), and may be
        // overwritten by the worker's running mark without a read. One with a webhook or an
        // idempotency key is written first: a retry must find it before anything runs.
        let recordAfter = record.webhook == nil && !options.recordUpFront
        var recorded = true
        var acknowledgement: SentPublish?
        if recordAfter {
            headers[Headers.record] = "headers"
            headers[Headers.cancel] = "delete"
        }
        let subject = Subjects.job(service: service, priority: options.priority)
        do {
            // A tighter bound of this gateway's own than the stream's: refused like a publish to
            // a full subject.
            guard try await admission.admit(service: service, priority: options.priority) else {
                throw NATSError(.streamFull, "this gateway's --max-queued (\(admission.bound)) reached")
            }
            if recordAfter, let replyTo, options.replayOf == nil {
                let sent = try jetStream.send(input, to: subject, headers: headers, messageID: record.id)
                sent.endsWait(on: replyTo)
                (acknowledgement, recorded) = (sent, false)
            } else if recordAfter {
                record = try await publishThenRecord(record, input, to: subject, headers: headers)
            } else {
                record = try await createThenPublish(record, input, to: subject, headers: headers)
            }
        } catch {
            if let replyTo { connection.discardReplySubject(replyTo) }
            throw notQueued(id, service, error)
        }
        return Queued(record: record, replyTo: replyTo, recorded: recorded, acknowledgement: acknowledgement)
    }

    /// What `queueDurable` did: the job's record, the subject its answer comes to (when the
    /// client waits), whether the record is written, and the publish whose acknowledgement the
    /// client's wait takes (nil: acknowledged already).
    private struct Queued {
        var record: JobRecord
        var replyTo: String?
        var recorded: Bool
        var acknowledgement: SentPublish?
    }

    /// The problem a client gets for a job that could not be queued: the queue-full problem
    /// (with `Retry-After`) when the queue is full, else `503`.
    private func notQueued(_ id: String, _ service: String, _ error: any Error) -> Problem {
        if (error as? NATSError)?.kind == .streamFull { return Problem.queueFull(service, retryAfter: configuration.queueFullRetryAfter) }
        logger.error("job not queued", metadata: ["job": "\(id)", "error": "\(error)"])
        return Problem.unavailable("The job could not be queued (NATS JetStream unavailable); retry later.")
    }

    func jobHeaders(id: String, contentType: String?, created: Timestamp, options: SubmitOptions) -> NATSHeaders {
        var headers = NATSHeaders(minimumCapacity: 7)
        headers.add(Headers.deadline, options.deadline?.description)
        headers.add(Headers.owner, options.owner)
        headers.add(Headers.traceparent, options.trace.traceparent)
        headers.add(Headers.tracestate, options.trace.tracestate)
        headers.add(Headers.jobID, id)
        headers.add(Headers.contentType, contentType)
        headers.add(Headers.created, created.description)
        return headers
    }
}
