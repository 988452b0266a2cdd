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
