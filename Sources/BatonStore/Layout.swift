import BatonCore
import BatonNATS

/// The JetStream layout Baton needs, and how to create it idempotently.
///
/// Gateways and workers both call `ensure` at start, so either may start first.
public struct Layout: Sendable {
    /// Stream and bucket replicas (1 for a single server, 3 for a 3-node cluster).
    public var replicas: Int = 1
    /// How long job records, answers and terminal events are kept after their last write.
    public var retention: Duration = .seconds(24 * 3600)
    /// The largest job input or answer (bounded by the server's max payload).
    public var maxMessageSize: Int32 = -1
    /// Jobs a service may have queued per priority (subject `baton.jobs.<service>.<priority>`,
    /// running ones included) before publishes are refused (`NATSError.Kind.streamFull`);
    /// 0: unbounded. The stream's `max_msgs_per_subject` with `discard_new_per_subject` when
    /// the stream is created or its bound raised; a lower bound than an existing stream's is
    /// kept by `QueueAdmission` instead (the stream's is never lowered: that deletes jobs).
    public var maxQueuedPerService: Int = 100_000

    public init() {}

    public var jobsStream: StreamSpec {
        var spec = StreamSpec(name: Streams.jobs, subjects: [Subjects.allJobs])
        spec.retention = .workQueue
        spec.maxAge = retention
        spec.maxMessageSize = maxMessageSize
        spec.replicas = replicas
        spec.discardNew = true
        if maxQueuedPerService > 0 {
            spec.maxMessagesPerSubject = Int64(maxQueuedPerService)
            spec.discardNewPerSubject = true
        }
        return spec
    }

    public var eventsStream: StreamSpec {
        var spec = StreamSpec(name: Streams.events, subjects: [Subjects.allDone])
        spec.maxAge = retention
        spec.replicas = replicas
        return spec
    }

    /// How long dead letters are kept for an operator to look at.
    public var deadLetterRetention: Duration = .seconds(7 * 24 * 3600)

    public var deadLetterStream: StreamSpec {
        var spec = StreamSpec(name: Streams.deadLetters, subjects: [Subjects.allDeadLetters])
        spec.maxAge = deadLetterRetention
        spec.maxMessageSize = maxMessageSize
        spec.replicas = replicas
        spec.allowDirect = true
        return spec
    }

    /// The consumer of terminal events all gateways share to deliver webhooks: each event goes
    /// to one gateway; one that dies mid-delivery leaves it unacknowledged, so another gets it
    /// after `ackWait`.
    public func webhooksConsumer(ackWait: Duration) -> ConsumerSpec {
        var spec = ConsumerSpec(stream: Streams.events, durable: Streams.webhooksConsumer, filterSubject: Subjects.allDone)
        spec.ackWait = ackWait
        spec.maxDeliver = -1
        spec.replicas = replicas
        return spec
    }

    /// Creates the streams and buckets, or changes existing ones as far as that deletes
    /// nothing (`JetStream.ensureStream`; a refused change is logged). Every gateway and worker
    /// calls it at start, so either may start first and a new version can add what it needs.
    /// Returns the jobs stream as it is now (its bound may be higher than `maxQueuedPerService`).
    @discardableResult
    public func ensure(_ js: JetStream) async throws -> StreamOutcome {
        let jobs = try await js.ensureStream(jobsStream)
        try await js.ensureStream(eventsStream)
        try await js.ensureStream(deadLetterStream)
        _ = try await KeyValueBucket.ensure(Streams.recordsBucket, jetStream: js, ttl: retention, replicas: replicas)
        _ = try await KeyValueBucket.ensure(
            Streams.resultsBucket, jetStream: js, ttl: retention, replicas: replicas, maxValueSize: maxMessageSize)
        _ = try await KeyValueBucket.ensure(Streams.servicesBucket, jetStream: js, replicas: replicas)
        _ = try await KeyValueBucket.ensure(Streams.idempotencyBucket, jetStream: js, ttl: retention, replicas: replicas)
        return jobs
    }

    /// The admission check a gateway needs given the jobs stream as `ensure` left it: it checks
    /// depths only when its own bound is tighter than the stream's (`checksDepth`).
    public func admission(for jobs: StreamOutcome, jetStream: JetStream) -> QueueAdmission {
        QueueAdmission(bound: maxQueuedPerService, streamBound: jobs.spec.maxMessagesPerSubject, jetStream: jetStream)
    }

    /// True when every stream and bucket exists (readiness).
    public static func isPresent(_ js: JetStream) async -> Bool {
        for name in [Streams.jobs, Streams.events, Streams.deadLetters, "KV_\(Streams.idempotencyBucket)", "KV_\(Streams.recordsBucket)", "KV_\(Streams.resultsBucket)", "KV_\(Streams.servicesBucket)"] {
            guard (try? await js.streamExists(name)) == true else { return false }
        }
        return true
    }

    /// Makes the three per-priority consumers of `service` (and deletes the single consumer
    /// `baton-<service>` of earlier versions first, which would overlap them; only if its filter
    /// is `baton.jobs.<service>.>`, so another service's consumer of that name is left alone).
    /// Idempotent.
    public func ensureConsumers(_ js: JetStream, service: String, ackWait: Duration, maxDeliver: Int = -1) async throws {
        try await js.deleteConsumer(stream: Streams.jobs, name: Streams.consumer(service: service), ifFilterSubject: Subjects.jobs(service: service))
        for priority in Priority.allCases {
            try await js.ensureConsumer(Self.consumer(service: service, priority: priority, ackWait: ackWait, maxDeliver: maxDeliver, replicas: replicas))
        }
    }

    /// The durable consumer of `priority` the workers of `service` share
    /// (`baton-<service>-<priority>`, filter `baton.jobs.<service>.<priority>`).
    public static func consumer(service: String, priority: Priority, ackWait: Duration, maxDeliver: Int, replicas: Int) -> ConsumerSpec {
        var spec = ConsumerSpec(
            stream: Streams.jobs, durable: Streams.consumer(service: service, priority: priority),
            filterSubject: Subjects.job(service: service, priority: priority))
        spec.ackWait = ackWait
        spec.maxDeliver = maxDeliver
        spec.replicas = replicas
        return spec
    }
}
