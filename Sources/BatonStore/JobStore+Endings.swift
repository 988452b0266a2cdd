import BatonCore
import BatonNATS
import NIOCore

/// How jobs end: by their answer, cancelled by the client, expired before they ran, or given
/// up on (dead-lettered). Each is one `finish`.
extension JobStore {
    /// Ends a job in `proposed.state`, as `party` (the lifecycle's transition for that state and
    /// party, `JobTransition.ending(in:by:)`; none is a fault): stores its answer entry with the end in
    /// its headers, create-only, so the first end wins and a stale worker, or a worker racing a
    /// cancel, adopts the end that is stored. Then calls `beforeEvent` with the stored answer
    /// (to answer a waiting gateway as early as possible) and, for a job with a webhook,
    /// publishes its terminal event on `baton.done.<service>.<job>` for the webhook dispatchers.
    ///
    /// The entry's write is itself the announcement of the end (`Subjects.answer(job:)`), so
    /// jobs without a webhook cost one write to end. Every step is idempotent: call it again
    /// when unsure whether it got through.
    @discardableResult
    public func finish(
        _ id: String, by party: JobParty, ending proposed: JobEnding, webhook: Bool, beforeEvent: (JobAnswer) -> Void = { _ in }
    ) async throws -> JobEnding {
        guard JobTransition.ending(in: proposed.state, by: party) != nil else {
            throw JobLifecycleViolation(transition: nil, from: nil, party: party)
        }
        let ending: JobEnding
        do {
            try await results.create(id, proposed.answer.body, headers: proposed.headers)
            ending = proposed
        } catch let error as NATSError where error.kind == .wrongLastSequence {
            guard let entry = try await results.get(id) else { throw error }
            ending =
                JobEnding(headers: entry.headers, body: entry.value)
                ?? JobEnding(answer: JobAnswer(headers: entry.headers, body: entry.value), state: proposed.state, service: proposed.service)
        }
        beforeEvent(ending.answer)
        if webhook, let service = ending.service ?? proposed.service {
            try await publishEnd(of: id, service: service, ending: ending)
        }
        return ending
    }

    public enum CancelOutcome: Sendable {
        case cancelled(JobRecord)
        /// The job had ended already (possibly just now, racing the cancel).
        case alreadyEnded(JobRecord)
        case unknown
    }

    /// Cancels a job that has not ended: ends it with a `409 job-cancelled` answer (first end
    /// wins, so a worker finishing at the same moment either wins or sees the cancellation),
    /// deletes its message from the jobs stream when the record holds its sequence (so that no
    /// worker takes a job cancelled while queued: a worker's first delivery of such a job does
    /// not look for an end, PROTOCOL §6.7), and tells the workers on `baton.cancel.<job>`, so a
    /// running handler is cancelled.
    ///
    /// - Parameter snapshot: the job as the caller just read it (`record(_:)`); read if absent.
    public func cancel(_ id: String, from snapshot: StoredRecord? = nil) async throws -> CancelOutcome {
        var found = snapshot
        if found == nil { found = try await record(id) }
        guard let current = found else { return .unknown }
        if current.record.state.isTerminal { return .alreadyEnded(current.record) }
        let proposed = JobEnding.cancelledByClient(id, service: current.record.service)
        let ending = try await finish(id, by: .client, ending: proposed, webhook: current.record.webhook != nil)
        try? records.jetStream.connection.publish(ByteBuffer(), to: Subjects.cancel(job: id))
        if ending.state == .cancelled, let sequence = current.record.queueSequence {
            try await deleteQueued(sequence)
        }
        let record = current.record.ended(with: ending)
        return ending.state == .cancelled ? .cancelled(record) : .alreadyEnded(record)
    }

    /// Deletes a cancelled job's message from the jobs stream (gone already: acked by the worker
    /// that ran it, or an earlier cancel's delete). Tried twice: the job has ended, and the
    /// caller's error then says that its message may still reach a worker.
    private func deleteQueued(_ sequence: UInt64) async throws {
        do {
            try await records.jetStream.deleteMessage(stream: Streams.jobs, sequence: sequence)
        } catch {
            try await records.jetStream.deleteMessage(stream: Streams.jobs, sequence: sequence)
        }
    }

    /// Ends a job whose deadline passed before it started; it is not run.
    @discardableResult
    public func expire(
        _ id: String, service: String, webhook: Bool, origin: JobOrigin? = nil, beforeEvent: (JobAnswer) -> Void = { _ in }
    ) async throws -> JobEnding {
        let problem = Problem.jobExpired(id)
        var proposed = JobEnding(
            answer: JobAnswer(status: problem.statusCode, contentType: Problem.mediaType, body: problem.encoded()), state: .expired,
            service: service, error: problem.detail)
        proposed.origin = origin
        return try await finish(id, by: .expiry, ending: proposed, webhook: webhook, beforeEvent: beforeEvent)
    }

    /// Publishes the terminal event of an ended job with a webhook on
    /// `baton.done.<service>.<job>` with message id `done-<job>`, so JetStream drops a second
    /// copy within its duplicate window: safe to call again when unsure whether the first got
    /// through.
    public func publishEnd(of id: String, service: String, ending: JobEnding, messageID: String? = nil) async throws {
        let event = DoneEvent(job: id, service: service, state: ending.state, status: ending.answer.status, at: ending.finishedAt, webhook: true)
        try await records.jetStream.publish(try JSON.encode(event), to: Subjects.done(service: service, job: id), messageID: messageID ?? "done-\(id)")
    }
}
