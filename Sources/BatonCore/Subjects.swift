/// Every NATS subject Baton uses, in one place (see docs in README "Subjects").
public enum Subjects {
    /// Durable jobs: `baton.jobs.<service>.<priority>` (stream `BATON_JOBS`).
    public static func job(service: String, priority: Priority = .normal) -> String {
        "baton.jobs.\(service).\(priority.rawValue)"
    }

    /// All durable jobs of a service (the service's consumer filter).
    public static func jobs(service: String) -> String { "baton.jobs.\(service).>" }

    /// Fast-lane requests: `baton.svc.<service>`, served by queue group `baton.<service>`.
    public static func fast(service: String) -> String { "baton.svc.\(service)" }

    public static func queueGroup(service: String) -> String { "baton.\(service)" }

    /// Progress events: `baton.progress.<service>.<job>`.
    public static func progress(service: String, job: String) -> String { "baton.progress.\(service).\(job)" }

    /// A job's answer entry, which is also its end: `$KV.baton-results.<job>` (written once).
    /// Watchers subscribe to it: the write that ends a job is the event that it ended.
    public static func answer(job: String) -> String { "$KV.\(Streams.resultsBucket).\(job)" }

    /// Every job's end: `$KV.baton-results.>`.
    public static let allAnswers = "$KV.\(Streams.resultsBucket).>"

    /// Terminal events for webhooks: `baton.done.<service>.<job>` (stream `BATON_EVENTS`),
    /// published only for jobs that have a webhook.
    public static func done(service: String, job: String) -> String { "baton.done.\(service).\(job)" }

    /// Cancel requests: `baton.cancel.<job>`.
    public static func cancel(job: String) -> String { "baton.cancel.\(job)" }

    /// Progress and webhook events of one job: `baton.*.<service>.<job>`.
    public static func events(service: String, job: String) -> String { "baton.*.\(service).\(job)" }

    /// The terminal event of a job whatever its service.
    public static func done(job: String) -> String { "baton.done.*.\(job)" }

    /// Dead letters: `baton.dlq.jobs.<service>.<job>` (jobs that failed every attempt) and
    /// `baton.dlq.webhooks.<service>.<job>` (webhooks that failed every attempt).
    public static func deadJob(service: String, job: String) -> String { "baton.dlq.jobs.\(service).\(job)" }
    public static func deadWebhook(service: String, job: String) -> String { "baton.dlq.webhooks.\(service).\(job)" }

    public static let allCancels = "baton.cancel.*"
    public static let allDeadLetters = "baton.dlq.>"
    public static let allJobs = "baton.jobs.>"
    public static let allDone = "baton.done.>"
}

/// Scheduling priority of a durable job (the last token of its subject).
public enum Priority: String, Sendable, CaseIterable, Codable {
    case high, normal, low
}

/// Names of the JetStream streams, consumers and KV buckets.
public enum Streams {
    public static let jobs = "BATON_JOBS"
    public static let events = "BATON_EVENTS"
    /// Job records (`JobRecord` JSON), keyed by job id.
    public static let recordsBucket = "baton-jobs"
    /// Job answers (body, with `Baton-Status` and `Content-Type` headers), keyed by job id.
    public static let resultsBucket = "baton-results"
    /// Dead letters (stream `BATON_DLQ`, subjects `baton.dlq.>`).
    public static let deadLetters = "BATON_DLQ"
    /// Idempotency keys → job ids (`IdempotencyClaim` JSON), keyed by a hash of caller and key.
    public static let idempotencyBucket = "baton-idempotency"
    /// The durable consumer of terminal events that all gateways share to deliver webhooks.
    public static let webhooksConsumer = "baton-webhooks"
    /// Registered services (`ServiceRegistration` JSON), keyed by service name.
    public static let servicesBucket = "baton-services"

    /// The durable consumers the workers of a service share, one per priority:
    /// `baton-<service>-high|normal|low`, filter `baton.jobs.<service>.<priority>`.
    public static func consumer(service: String, priority: Priority) -> String { "baton-\(service)-\(priority.rawValue)" }

    /// The single consumer of a service before priorities (`baton-<service>`, filter
    /// `baton.jobs.<service>.>`): workers delete it at start (it would overlap the per-priority
    /// ones). Still the name of the service's NATS micro queue group.
    public static func consumer(service: String) -> String { "baton-\(service)" }
}

/// Header names on Baton's NATS messages (HTTP-style, case-insensitive on read).
public enum Headers {
    public static let jobID = "Baton-Job-Id"
    /// The gateway inbox subject awaiting the answer of a durable job.
    public static let replyTo = "Baton-Reply"
    /// The HTTP status of an answer.
    public static let status = "Baton-Status"
    public static let contentType = "Content-Type"
    public static let service = "Baton-Service"
    /// When the job was accepted (RFC 3339).
    public static let created = "Baton-Created"
    /// `headers` when the record the gateway creates holds nothing the job's headers do not
    /// carry (no webhook, no idempotency key), so a worker may write it without reading it.
    public static let record = "Baton-Record"
    /// On answer entries (the job's end): the terminal state, when the attempt that ended it
    /// started and how many there were, when it ended, why it failed, which worker ended it.
    public static let state = "Baton-State"
    public static let started = "Baton-Started"
    public static let finished = "Baton-Finished"
    public static let worker = "Baton-Worker"
    /// When the job must have started by (RFC 3339).
    public static let deadline = "Baton-Deadline"
    /// On dead letters: how many attempts were made, the last error, and what failed.
    public static let attempts = "Baton-Attempts"
    public static let error = "Baton-Error"
    public static let deadLetterKind = "Baton-Dead-Letter"
    /// The API key name that owns the job (when the gateway requires keys).
    public static let owner = "Baton-Owner"
    /// W3C Trace Context.
    public static let traceparent = "traceparent"
    public static let tracestate = "tracestate"
}
