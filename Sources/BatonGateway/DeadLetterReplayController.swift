import BatonCore
import BatonObservability
import BatonStore
import HTTPTypes
import Hummingbird
import Logging

/// `POST /v1/dead-letters/{sequence}/replay`: runs a dead letter again.
///
/// - A job's dead letter (`kind: job`) is submitted again as a new job (a new id), with the dead
///   job's input, content type, owner and service; the new record names the old job in
///   `replayOf`. The answer is the new job's `202` with `Location`.
/// - A webhook's dead letter (`kind: webhook`) sends the delivery again: the job's webhook goes
///   back to `pending` with no attempts, and its terminal event is published again for the
///   dispatchers.
///
/// Idempotent: the first replay claims the dead letter (KV `baton-idempotency`, key
/// `replay-<sequence>`) for the job it runs; a second replay finds the claim and answers with
/// the same job (`Idempotent-Replayed: true`), and the dead-letter list shows it as
/// `replayedAs`.
struct DeadLetterReplayController<Backend: GatewayBackend>: Sendable {
    let backend: Backend
    /// Whether this gateway exports spans (it has a tracer).
    let recordsTraces: Bool

    static var segment: String { "sequence" }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/dead-letters/:\(Self.segment)/replay", use: replay)
    }

    @Sendable func replay(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let text = try context.parameters.require(Self.segment)
        guard let sequence = UInt64(text), sequence > 0, sequence < UInt64(Int64.max) else {
            throw Problem.badRequest("'\(text.prefix(64))' is not a dead letter's sequence number.")
        }
        let letter: DeadLetter
        do {
            guard let found = try await backend.deadLetters.letter(at: sequence) else { throw Problem.unknownDeadLetter(text) }
            letter = found
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem.unavailable("The dead-letter stream is unavailable (NATS): \(error)")
        }
        // With API keys on, another key's dead letter does not exist.
        if Caller.isAuthenticated, letter.owner != Caller.name { throw Problem.unknownDeadLetter(text) }
        guard let job = letter.job, let service = letter.service else {
            throw Problem.unknownDeadLetter(text)
        }
        let kind = letter.kind
        let newID = kind == JobStore.DeadLetterKind.webhook.rawValue ? job : JobID.make()
        let existing: IdempotencyKeys.Claim?
        do {
            existing = try await backend.claims.claim(DeadLetter.replayClaimKey(sequence), .init(job: newID, fingerprint: "replay"))
        } catch {
            throw Problem.unavailable("Replays cannot be claimed (NATS): \(error)")
        }
        var headers: HTTPFields = [:]
        if let existing {
            headers[.idempotentReplayed] = "true"
            if let record = try await backend.jobs.record(existing.job)?.record { return try accepted(record, headers: headers) }
            // Claimed, but the first replay died before its job was recorded: submit it now
            // under the claimed id (deduplicated by it).
            if kind == JobStore.DeadLetterKind.webhook.rawValue { throw Problem.unknownJob(existing.job) }
            return try await resubmit(letter, of: job, service: service, as: existing.job, headers: headers)
        }
        if kind == JobStore.DeadLetterKind.webhook.rawValue {
            return try await resend(job, service: service, headers: headers)
        }
        return try await resubmit(letter, of: job, service: service, as: newID, headers: headers)
    }

    private func resubmit(_ letter: DeadLetter, of job: String, service name: String, as id: String, headers: HTTPFields) async throws -> Response {
        let registration: ServiceRegistration?
        do {
            registration = try await backend.services.lookup(name)
        } catch {
            throw Problem.unavailable("The service catalogue is unavailable (NATS): \(error)")
        }
        guard let registration else { throw Problem.unknownService(name) }
        // Sampled when this gateway records spans (its webhook attempts, below the job's trace).
        var options = SubmitOptions(wait: .zero, trace: .random(sampled: recordsTraces))
        options.id = id
        options.owner = letter.owner
        options.replayOf = job
        options.recordUpFront = true
        switch try await backend.dispatcher.start(service: registration, input: letter.payload, contentType: letter.contentType, options: options) {
        case .ended(.accepted(let record)): return try accepted(record, headers: headers)
        case .ended(.answered), .waiting:
            // Not with `wait: .zero`: the job is recorded and the answer comes later.
            guard let record = try await backend.jobs.record(id)?.record else { throw Problem.unknownJob(id) }
            return try accepted(record, headers: headers)
        }
    }

    /// Sends a webhook again: back to `pending` with no attempts, and the job's terminal event
    /// published again.
    private func resend(_ job: String, service: String, headers: HTTPFields) async throws -> Response {
        let record: JobRecord?
        do {
            record = try await backend.jobs.resendWebhook(of: job, service: service)
        } catch {
            throw Problem.unavailable("The webhook could not be queued again (NATS): \(error)")
        }
        guard let record else { throw Problem.unknownJob(job) }
        return try accepted(record, headers: headers)
    }

    private func accepted(_ record: JobRecord, headers: HTTPFields) throws -> Response {
        var headers = headers
        headers[.location] = JobStatus.location(of: record.id)
        headers[.batonJobID] = record.id
        return .json(.accepted, JobStatus(record: record).json(), headers: headers)
    }
}

extension DeadLetter {
    /// The claim key of a dead letter's replay.
    static func replayClaimKey(_ sequence: UInt64) -> String { "replay-\(sequence)" }
}
