import BatonCore
import BatonNATS
import BatonStore
import NIOCore

/// The fast lane: a core NATS request to `baton.svc.<service>`; the job is recorded only if the
/// client's wait elapses (or up front, for `respond-async` and idempotent requests), and then
/// the gateway keeps listening for the answer to record it.
extension JobDispatcher {
    func startFast(service: String, input: ByteBuffer, contentType: String?, options: SubmitOptions) async throws -> SubmitStart<PendingAnswer> {
        let id = options.id
        let wait = options.wait
        let created = Timestamp.now
        let replyTo = connection.makeReplySubject()
        let request = NATSMessage(
            subject: Subjects.fast(service: service), replyTo: replyTo,
            headers: jobHeaders(id: id, contentType: contentType, created: created, options: options), payload: input)
        let connection = self.connection
        let fastLaneTimeout = configuration.fastLaneTimeout

        if wait == .zero || options.recordUpFront {
            // The job must be known before it runs: for the 202 of respond-async, and so that an
            // idempotent retry finds it. The answer is recorded when it comes.
            let record = try await recordRunning(id: id, service: service, created: created, options: options)
            try publishOrDiscard(request)
            let finishing = background.run { await finishInBackground(record: record, reply: await connection.waitForReply(on: replyTo, timeout: fastLaneTimeout)) }
            if wait == .zero { return .ended(.accepted(record)) }
            let answered = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await finishing.value; return true }
                group.addTask { await connection.waitUntilInterrupted(timeout: wait); return false }
                let first = await group.next()!
                group.cancelAll()
                return first
            }
            guard answered, let answer = try? await store.result(id) else {
                return .ended(.accepted((try? await store.record(id)?.record) ?? record))
            }
            return .ended(.answered(id: id, answer))
        }
        try publishOrDiscard(request)
        return .waiting(PendingAnswer(id: id, service: service, replyTo: replyTo, options: options, lane: .fast(created: created)))
    }

    /// One wait serves the call: the reply subject outlives it, so the reply that comes after
    /// the client's wait is not lost while the job is recorded and the gateway listens on.
    /// The wait keeps little in its frame; what follows it is out of line (see `answer`).
    @inline(never) func answerFast(_ pending: PendingAnswer) async throws -> Submission {
        let wait = min(pending.options.wait, configuration.fastLaneTimeout)
        if let reply = await connection.waitForReply(on: pending.replyTo, timeout: wait, interruptible: true, keepingSubject: true) {
            return try answered(pending, reply)
        }
        return try await recordAfterWait(pending)
    }

    private func answered(_ pending: PendingAnswer, _ reply: NATSMessage) throws -> Submission {
        if reply.isNoResponders {
            connection.discardReplySubject(pending.replyTo)
            throw Problem.noWorkers(pending.service)
        }
        return .answered(id: pending.id, JobAnswer(headers: reply.headers, body: reply.payload))
    }

    /// The wait elapsed: record the job so it can be followed, keep listening.
    @inline(never) private func recordAfterWait(_ pending: PendingAnswer) async throws -> Submission {
        let (id, service, replyTo) = (pending.id, pending.service, pending.replyTo)
        guard case .fast(let created) = pending.lane else { preconditionFailure("a fast-lane answer of a durable job") }
        let rest = configuration.fastLaneTimeout - (ContinuousClock.now - pending.sent)
        guard rest > .zero else {
            connection.discardReplySubject(replyTo)
            throw Problem.noAnswer(service: service)
        }
        let record: JobRecord
        do {
            record = try await recordRunning(id: id, service: service, created: created, options: pending.options)
        } catch {
            connection.discardReplySubject(replyTo)
            throw error
        }
        let connection = self.connection
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

    private func recordRunning(id: String, service: String, created: Timestamp, options: SubmitOptions) async throws -> JobRecord {
        var record = try JobRecord(.acceptRunning, by: .gateway, id: id, service: service, lane: .fast, createdAt: created)
        record.webhook = options.webhook(created: created)
        record.owner = options.owner
        record.replayOf = options.replayOf
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
            let problem = Problem.noAnswer(job: id)
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

}
