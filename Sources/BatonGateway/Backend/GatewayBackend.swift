import BatonCore
import BatonStore
import Hummingbird
import NIOCore

/// What the HTTP API stands on, as its controllers use it: job records, the dispatcher, the
/// watcher of a job's end, its event stream, the service directory, idempotency claims, the
/// dead letters and readiness.
///
/// The gateway's is `NATSBackend` (JetStream and core NATS); the contract tests have an
/// in-memory one (`Tests/BatonGatewayTests/Memory`), so the HTTP contract — status codes,
/// headers, problem documents, `Prefer`, idempotency, ownership — is tested without a server.
/// The controllers are generic over it: the gateway's calls are specialised, not dispatched
/// through existentials.
protocol GatewayBackend: Sendable {
    associatedtype Jobs: JobRepository
    associatedtype Dispatcher: JobSubmitting
    associatedtype Watcher: JobWatching
    associatedtype Events: JobEventStreaming
    associatedtype Services: ServiceDirectory
    associatedtype Claims: IdempotencyClaims
    associatedtype Letters: DeadLetterReading
    associatedtype Health: Readiness

    var jobs: Jobs { get }
    var dispatcher: Dispatcher { get }
    var watcher: Watcher { get }
    var events: Events { get }
    var services: Services { get }
    var claims: Claims { get }
    var deadLetters: Letters { get }
    var readiness: Health { get }

    /// Brings the backend's own metrics up to date before a `/metrics` scrape.
    func beforeScrape()
}

/// Job records as the API reads, lists, cancels and replays them.
protocol JobRepository: Sendable {
    /// A job as readers see it (its record with its end applied, and its answer); nil when
    /// unknown.
    func record(_ id: String) async throws -> StoredRecord?
    /// Ends a job that has not ended as `cancelled` (first end wins).
    func cancel(_ id: String, from snapshot: StoredRecord?) async throws -> JobStore.CancelOutcome
    /// Recent jobs, newest first.
    func list(_ query: JobQuery) async throws -> JobListing
    /// Sends an ended job's webhook again (a dead letter's replay): back to `pending` with no
    /// attempts. Returns the record as it ended; nil when the job is unknown, has not ended or
    /// has no webhook.
    func resendWebhook(of id: String, service: String) async throws -> JobRecord?
}

/// Sends jobs to workers. `start` queues (or sends) the job; `answer` is the client's wait for
/// it. Two calls, so that the caller can run `start` in a child task and a held call keeps
/// only the memory of its wait (`JobsController`).
protocol JobSubmitting: Sendable {
    /// What a client waiting for its answer holds.
    associatedtype Pending: Sendable

    func start(
        service: ServiceRegistration, input: ByteBuffer, contentType: String?, options: SubmitOptions
    ) async throws -> SubmitStart<Pending>

    func answer(_ pending: Pending) async throws -> Submission
}

/// Waits for a job to end (long-polls, idempotent replays).
protocol JobWatching: Sendable {
    /// The job once it ended (with its answer), or as it is when `timeout` elapses; nil for an
    /// unknown job.
    func waitForEnd(_ id: String, timeout: Duration) async throws -> StoredRecord?
}

/// `GET /v1/jobs/{id}/events`: a job as server-sent events.
protocol JobEventStreaming: Sendable {
    func response(for record: JobRecord) throws -> Response
}

/// Which services exist, and the catalogue `GET /v1/services` shows.
protocol ServiceDirectory: Sendable {
    /// The registration of `name`; nil when no worker registered it.
    func lookup(_ name: String) async throws -> ServiceRegistration?
    /// The catalogue as its JSON body (`{"services": [...]}`).
    func catalogue() async throws -> ByteBuffer
}

/// Claims of idempotency keys and of dead-letter replays: the first claim of a key wins.
protocol IdempotencyClaims: Sendable {
    /// Claims `key` for `claim`, or returns the claim that was there first.
    func claim(_ key: String, _ claim: IdempotencyKeys.Claim) async throws -> IdempotencyKeys.Claim?
    /// The claim of `key`, if any.
    func claimed(_ key: String) async throws -> IdempotencyKeys.Claim?
}

/// The dead letters (`BATON_DLQ`), by sequence.
protocol DeadLetterReading: Sendable {
    /// A page of dead letters in the query's order, and where the next page starts (nil when
    /// there are no more).
    func page(_ query: DeadLetterQuery) async throws -> (letters: [DeadLetter], next: UInt64?)
    /// The dead letter at `sequence`; nil when there is none.
    func letter(at sequence: UInt64) async throws -> DeadLetter?
}

/// `GET /readyz`.
protocol Readiness: Sendable {
    /// Why the gateway cannot take requests now; nil when it can.
    func unready() async -> Problem?
}

/// A dead letter: a job that failed every attempt, or a webhook that could not be delivered.
struct DeadLetter: Sendable {
    var sequence: UInt64
    /// `job` or `webhook` (`JobStore.DeadLetterKind`), as stored.
    var kind: String
    var job: String?
    var service: String?
    var owner: String?
    var attempts: Int?
    var error: String?
    var contentType: String?
    /// The job's input, or the webhook's payload.
    var payload: ByteBuffer
    /// When it was stored (RFC 3339).
    var storedAt: String?
}
