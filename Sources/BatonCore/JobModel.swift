import NIOCore

/// Where a job is in its life. `queued → running → succeeded | failed | cancelled`, or
/// `expired` when it ran out of time before it ran.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled, expired

    public var isTerminal: Bool {
        switch self {
        case .queued, .running: false
        case .succeeded, .failed, .cancelled, .expired: true
        }
    }
}

/// How a service is dispatched.
public enum Lane: String, Sendable, Codable {
    /// Core NATS request-reply: lowest latency, nothing survives a crash.
    case fast
    /// JetStream work queue: acknowledged after the answer is recorded; redelivered after a crash.
    case durable
}

/// The answer of a job, as the synchronous HTTP call would return it.
public struct JobAnswer: Sendable, Equatable {
    public var status: Int
    public var contentType: String?
    public var body: ByteBuffer

    public init(status: Int = 200, contentType: String? = nil, body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// The progress a worker last reported.
public struct JobProgress: Sendable, Codable, Equatable {
    /// 0...100
    public var percent: Double?
    public var message: String?

    public init(percent: Double? = nil, message: String? = nil) {
        self.percent = percent
        self.message = message
    }
}

/// The record of a job in KV `baton-jobs`; also the body of `GET /v1/jobs/{id}`.
public struct JobRecord: Sendable, Codable, Equatable {
    public var id: String
    public var service: String
    public var lane: Lane
    public var state: JobState
    public var progress: JobProgress?
    public var createdAt: Timestamp
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    public var updatedAt: Timestamp
    /// Deliveries so far (1 on the first run; more after a crash or retry).
    public var attempts: Int
    /// The HTTP status of the answer, once there is one.
    public var status: Int?
    /// Why the job failed, for failed jobs.
    public var error: String?
    /// The worker that ran (or runs) the job.
    public var worker: String?
    /// When the job must have started by; a job still queued then becomes `expired`.
    public var deadline: Timestamp?
    /// The webhook that reports the job's end, when the client asked for one (`Callback-Url`).
    public var webhook: WebhookStatus?
    /// The API key (its name) that created the job, when the gateway requires keys; only it
    /// sees the job.
    public var owner: String?
    /// The durable lane's priority (`normal` when absent).
    public var priority: Priority?
    /// The W3C `traceparent` the job carries (from the HTTP request, or started by the gateway).
    public var traceparent: String?
    /// The job whose dead letter this one replays (`POST /v1/dead-letters/{sequence}/replay`).
    public var replayOf: String?
    /// The job message's sequence in stream `BATON_JOBS`, when the gateway wrote the record
    /// once the job was stored (jobs published with `Baton-Cancel: delete`): a cancel while the
    /// job is queued deletes that message, so that no worker takes it.
    public var queueSequence: UInt64?
    /// True from the gateway's write of a record it makes before the job's publish (a job with a
    /// webhook or an idempotency key) until it has seen the job stored, or a worker started it;
    /// absent otherwise. A record that still says so `JobRecord.strandingGrace` after it was
    /// made, never started, belongs to a job whose gateway stopped before the job was stored
    /// (`isStranded`): readers end it `notQueued` (`JobStore.settledRecord`), so that no record
    /// stays `queued` for a job that no queue holds.
    public var publishing: Bool?
    /// Set when the gateway queued the job again after its first publish seemed to fail (an
    /// idempotent retry of a `503`): the id of the copy that may run it, which its message
    /// carries in `Baton-Queued-As` and as its `Nats-Msg-Id`. That first publish may have been
    /// stored after all: a copy whose `Baton-Queued-As` differs is stale, and is acked unrun.
    public var queuedAs: String?

    public init(id: String, service: String, lane: Lane, state: JobState = .queued, createdAt: Timestamp = .now) {
        self.id = id
        self.service = service
        self.lane = lane
        self.state = state
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.attempts = 0
    }
}

extension JobRecord {
    /// How long a record may say `publishing` before readers take its job for one that was never
    /// stored: far beyond a publish's timeout (5 s) and the write that clears it.
    public static let strandingGrace: Duration = .seconds(60)

    /// A record made before its job's publish, whose gateway never saw the job stored, made more
    /// than `grace` ago and never started: its job is in no queue (the gateway stopped in
    /// between), or — if the gateway stopped right after the publish — a worker that takes it
    /// finds it ended and acknowledges it unrun.
    public func isStranded(now: Timestamp = .now, grace: Duration = JobRecord.strandingGrace) -> Bool {
        state == .queued && publishing == true && attempts == 0 && startedAt == nil && createdAt.adding(grace) < now
    }
}

/// Where the webhook of a job stands.
public struct WebhookStatus: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        /// A client waits synchronously: the webhook is sent only if that wait ends without the
        /// answer (the gateway switched to `202`, or died), decided by `holdUntil` at the latest.
        case held
        /// To be delivered (or being retried).
        case pending
        case delivered
        /// Every attempt failed; the delivery is in the dead-letter stream.
        case failed
        /// The client got the answer on its synchronous call: no webhook.
        case skipped
    }

    public var url: String
    public var state: State
    public var attempts: Int
    public var lastError: String?
    public var deliveredAt: Timestamp?
    /// For `held`: when the synchronous wait ends at the latest.
    public var holdUntil: Timestamp?

    public init(url: String, state: State, holdUntil: Timestamp? = nil) {
        self.url = url
        self.state = state
        self.attempts = 0
        self.holdUntil = holdUntil
    }
}

/// A progress event on `baton.progress.<service>.<job>`.
public struct ProgressEvent: Sendable, Codable, Equatable {
    public var job: String
    public var service: String
    public var percent: Double?
    public var message: String?
    /// Optional partial data (UTF-8 text, JSON by convention).
    public var data: String?
    public var at: Timestamp

    public init(job: String, service: String, percent: Double?, message: String?, data: String? = nil, at: Timestamp = .now) {
        self.job = job
        self.service = service
        self.percent = percent
        self.message = message
        self.data = data
        self.at = at
    }
}

/// A terminal event on `baton.done.<service>.<job>`.
public struct DoneEvent: Sendable, Codable, Equatable {
    public var job: String
    public var service: String
    public var state: JobState
    public var status: Int?
    public var at: Timestamp
    /// True when the job has a webhook to deliver (so webhook dispatchers skip the others
    /// without reading their records).
    public var webhook: Bool?

    public init(job: String, service: String, state: JobState, status: Int?, at: Timestamp = .now, webhook: Bool? = nil) {
        self.job = job
        self.service = service
        self.state = state
        self.status = status
        self.at = at
        self.webhook = webhook
    }
}

/// A service as workers register it in KV `baton-services`.
public struct ServiceRegistration: Sendable, Codable, Equatable {
    public var name: String
    public var lane: Lane
    public var version: String
    public var description: String
    public var updatedAt: Timestamp

    public init(name: String, lane: Lane, version: String, description: String, updatedAt: Timestamp = .now) {
        self.name = name
        self.lane = lane
        self.version = version
        self.description = description
        self.updatedAt = updatedAt
    }
}
