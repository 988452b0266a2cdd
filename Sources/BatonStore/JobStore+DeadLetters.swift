import BatonCore
import BatonNATS
import NIOCore

/// Dead letters: what failed every attempt, kept on `BATON_DLQ` for an operator to look at.
extension JobStore {
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
        headers[Headers.error] = JobEnding.headerSafe(error)
        headers[Headers.deadLetterKind] = kind.rawValue
        let subject = kind == .job ? Subjects.deadJob(service: service, job: id) : Subjects.deadWebhook(service: service, job: id)
        try await records.jetStream.publish(payload, to: subject, headers: headers, messageID: "dlq-\(kind.rawValue)-\(id)")
    }
}
