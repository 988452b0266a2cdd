import BatonCore
import BatonNATS
import BatonStore
import Logging
import NIOCore

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
    let configuration: GatewayConfiguration
    let logger: Logger

    func submit(
        service: ServiceRegistration, input: ByteBuffer, contentType: String?, wait: Duration
    ) async throws -> Submission {
        switch service.lane {
        case .durable: try await submitDurable(service: service.name, input: input, contentType: contentType, wait: wait)
        case .fast: try await submitFast(service: service.name, input: input, contentType: contentType, wait: wait)
        }
    }

    // MARK: - Durable lane

    private func submitDurable(service: String, input: ByteBuffer, contentType: String?, wait: Duration) async throws -> Submission {
        let id = JobID.make()
        let record = JobRecord(id: id, service: service, lane: .durable)
        var headers = jobHeaders(id: id, contentType: contentType, created: record.createdAt)
        let replyTo = wait > .zero ? connection.makeReplySubject() : nil
        headers[Headers.replyTo] = replyTo
        do {
            headers[Headers.recordRevision] = String(try await store.create(record))
            try await jetStream.publish(input, to: Subjects.job(service: service), headers: headers, messageID: id)
        } catch {
            if let replyTo { connection.discardReplySubject(replyTo) }
            logger.error("job not queued", metadata: ["job": "\(id)", "error": "\(error)"])
            _ = try? await store.update(id) { record in
                record.state = .failed
                record.error = "The job could not be queued."
                return true
            }
            throw Problem.unavailable("The job could not be queued (NATS JetStream unavailable); retry later.")
        }
        guard let replyTo else { return .accepted(record) }
        if let reply = await connection.waitForReply(on: replyTo, timeout: wait) {
            return .answered(id: id, JobAnswer(headers: reply.headers, body: reply.payload))
        }
        return .accepted((try? await store.record(id)?.record) ?? record)
    }

    // MARK: - Fast lane

    private func submitFast(service: String, input: ByteBuffer, contentType: String?, wait: Duration) async throws -> Submission {
        let id = JobID.make()
        let created = Timestamp.now
        let replyTo = connection.makeReplySubject()
        let request = NATSMessage(
            subject: Subjects.fast(service: service), replyTo: replyTo,
            headers: jobHeaders(id: id, contentType: contentType, created: created), payload: input)
        let connection = self.connection
        let fastLaneTimeout = configuration.fastLaneTimeout

        if wait == .zero {
            // respond-async: the job must be known before the 202.
            let record = try await recordRunning(id: id, service: service, created: created)
            try publishOrDiscard(request)
            Task { await finishInBackground(record: record, reply: await connection.waitForReply(on: replyTo, timeout: fastLaneTimeout)) }
            return .accepted(record)
        }

        try publishOrDiscard(request)
        let call = Task { await connection.waitForReply(on: replyTo, timeout: fastLaneTimeout) }
        let early: NATSMessage?? = await withTaskGroup(of: NATSMessage??.self) { group in
            group.addTask { .some(await call.value) }
            group.addTask {
                try? await Task.sleep(for: wait)
                return .none
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        switch early {
        case .some(.some(let reply)):
            if reply.isNoResponders { throw Problem.noWorkers(service) }
            return .answered(id: id, JobAnswer(headers: reply.headers, body: reply.payload))
        case .some(.none):
            throw Problem(type: "/problems/no-answer", title: "No answer", status: 504,
                          detail: "No fast-lane worker of '\(service)' answered.")
        case .none:
            // The wait elapsed: record the job so it can be followed, keep listening.
            let record = try await recordRunning(id: id, service: service, created: created)
            Task { await finishInBackground(record: record, reply: await call.value) }
            return .accepted(record)
        }
    }

    private func publishOrDiscard(_ request: NATSMessage) throws {
        do {
            try connection.publish(request)
        } catch {
            if let replyTo = request.replyTo { connection.discardReplySubject(replyTo) }
            throw Problem.unavailable("The job could not be sent (NATS unavailable); retry later.")
        }
    }

    private func recordRunning(id: String, service: String, created: Timestamp) async throws -> JobRecord {
        var record = JobRecord(id: id, service: service, lane: .fast, state: .running, createdAt: created)
        record.attempts = 1
        record.startedAt = created
        do {
            try await store.create(record)
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
            _ = try await store.finish(id, service: record.service, answer: outcome.answer, state: outcome.state, error: outcome.error)
        } catch {
            logger.error("fast-lane answer not recorded", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }

    private func jobHeaders(id: String, contentType: String?, created: Timestamp) -> NATSHeaders {
        var headers = NATSHeaders()
        headers[Headers.jobID] = id
        headers[Headers.contentType] = contentType
        headers[Headers.created] = created.description
        return headers
    }
}
