import BatonCore
import BatonNATS
import NIOCore

/// The ways a job ends other than its handler's answer: cancelled by the client, expired before
/// it ran, or given up on (dead-lettered).
extension JobStore {
    public enum CancelOutcome: Sendable {
        case cancelled(JobRecord)
        /// The job had ended already (possibly just now, racing the cancel).
        case alreadyEnded(JobRecord)
        case unknown
    }

    /// Cancels a job that has not ended: stores a `409 job-cancelled` answer (first answer wins,
    /// so a worker finishing at the same moment either wins or sees the cancellation), marks the
    /// record `cancelled`, publishes the terminal event, and tells the workers on
    /// `baton.cancel.<job>` so a running handler is cancelled.
    public func cancel(_ id: String) async throws -> CancelOutcome {
        guard let current = try await record(id) else { return .unknown }
        if current.record.state.isTerminal { return .alreadyEnded(current.record) }
        let problem = Problem.jobCancelled(id)
        let answer = JobAnswer(status: problem.status, contentType: Problem.mediaType, body: problem.encoded())
        let ended = try await finish(
            id, service: current.record.service, answer: answer, state: .cancelled, error: "Cancelled by the client.",
            from: current)
        try? records.jetStream.connection.publish(ByteBuffer(), to: Subjects.cancel(job: id))
        let record = try await record(id)?.record ?? current.record
        return ended.state == .cancelled ? .cancelled(record) : .alreadyEnded(record)
    }

    /// Ends a job whose deadline passed before it started; it is not run.
    @discardableResult
    public func expire(
        _ id: String, service: String, from snapshot: StoredRecord?, beforeEvent: (JobAnswer) -> Void = { _ in }
    ) async throws -> (answer: JobAnswer, state: JobState) {
        let problem = Problem.jobExpired(id)
        let answer = JobAnswer(status: problem.status, contentType: Problem.mediaType, body: problem.encoded())
        return try await finish(
            id, service: service, answer: answer, state: .expired, error: problem.detail, from: snapshot, beforeEvent: beforeEvent)
    }

    /// Publishes the terminal event of an ended job on `baton.done.<service>.<job>` with message
    /// id `done-<job>`, so JetStream drops a second copy within its duplicate window: safe to
    /// call again when unsure whether the first got through.
    public func publishEnd(of record: JobRecord) async throws {
        guard record.state.isTerminal else { return }
        let event = DoneEvent(
            job: record.id, service: record.service, state: record.state, status: record.status,
            at: record.finishedAt ?? .now, webhook: record.webhook == nil ? nil : true)
        try await records.jetStream.publish(
            try JSON.encode(event), to: Subjects.done(service: record.service, job: record.id), messageID: "done-\(record.id)")
    }

    /// What a dead letter is about.
    public enum DeadLetterKind: String, Sendable, Codable {
        /// A job that failed every attempt.
        case job
        /// A webhook that failed every attempt.
        case webhook
    }

    /// Copies a job (its input, or the webhook payload) to `BATON_DLQ` with its attempts and
    /// last error. Deduplicated by job id, so a retried call stores one dead letter.
    public func deadLetter(
        _ kind: DeadLetterKind, id: String, service: String, payload: ByteBuffer, contentType: String?,
        attempts: Int, error: String, owner: String? = nil
    ) async throws {
        var headers = NATSHeaders()
        headers[Headers.owner] = owner
        headers[Headers.jobID] = id
        headers[Headers.service] = service
        headers[Headers.contentType] = contentType
        headers[Headers.attempts] = String(attempts)
        headers[Headers.error] = String(error.prefix(1000)).replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        headers[Headers.deadLetterKind] = kind.rawValue
        let subject = kind == .job ? Subjects.deadJob(service: service, job: id) : Subjects.deadWebhook(service: service, job: id)
        try await records.jetStream.publish(payload, to: subject, headers: headers, messageID: "dlq-\(kind.rawValue)-\(id)")
    }
}

/// Claims of `Idempotency-Key`s (KV `baton-idempotency`): the first request with a key claims it
/// for its job id (create-only); later ones find the claim.
public struct IdempotencyKeys: Sendable {
    public let bucket: KeyValueBucket

    public init(jetStream: JetStream) {
        bucket = KeyValueBucket(Streams.idempotencyBucket, jetStream: jetStream)
    }

    public struct Claim: Sendable, Codable, Equatable {
        public var job: String
        /// A digest of what the request asked (service, content type, body).
        public var fingerprint: String
        public var createdAt: Timestamp

        public init(job: String, fingerprint: String, createdAt: Timestamp = .now) {
            self.job = job
            self.fingerprint = fingerprint
            self.createdAt = createdAt
        }
    }

    /// Claims `key` (already a KV-safe digest of caller and key) for `claim`, or returns the
    /// claim that was there first.
    public func claim(_ key: String, _ claim: Claim) async throws -> Claim? {
        do {
            try await bucket.create(key, JSON.encode(claim))
            return nil
        } catch let error as NATSError where error.kind == .wrongLastSequence {
            guard let entry = try await bucket.get(key) else { throw error }
            return try JSON.decode(Claim.self, from: entry.value)
        }
    }
}
