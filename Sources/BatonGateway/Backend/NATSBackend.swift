import BatonCore
import BatonNATS
import BatonStore
import Logging
import NIOCore

/// The gateway's backend: job records and claims in JetStream KV, jobs sent over JetStream and
/// core NATS, ends and events heard on NATS subjects.
struct NATSBackend: GatewayBackend {
    let jobs: JobStore
    let dispatcher: JobDispatcher
    let watcher: JobWatcher
    let events: JobEvents
    let services: NATSServiceDirectory
    let claims: IdempotencyKeys
    let deadLetters: DeadLetterStream
    let readiness: NATSReadiness
    let reconnects: GatewayMetrics.ReconnectCount

    init(
        connection: NATSConnection, jetStream: JetStream, admission: QueueAdmission, configuration: GatewayConfiguration,
        logger: Logger, background: BackgroundWork
    ) {
        let store = JobStore(jetStream: jetStream)
        let registry = ServiceRegistry(jetStream: jetStream)
        jobs = store
        dispatcher = JobDispatcher(
            connection: connection, jetStream: jetStream, store: store, admission: admission, configuration: configuration,
            logger: logger, background: background)
        watcher = JobWatcher(connection: connection, store: store)
        events = JobEvents(connection: connection, store: store, heartbeat: configuration.sseHeartbeat)
        services = NATSServiceDirectory(
            registry: registry,
            catalogue: ServiceCatalogue(
                connection: connection, jetStream: jetStream, registry: registry, cacheTTL: .seconds(2), gatherTimeout: .milliseconds(250)))
        claims = IdempotencyKeys(jetStream: jetStream)
        deadLetters = DeadLetterStream(jetStream: jetStream)
        readiness = NATSReadiness(connection: connection, jetStream: jetStream)
        reconnects = GatewayMetrics.ReconnectCount(connection: connection)
    }

    func beforeScrape() { reconnects.report() }
}

extension JobStore: JobRepository {
    /// As readers see it: a stranded record (made before its job's publish by a gateway that
    /// stopped before it saw the job stored) is settled first (`settled`). Every read of the
    /// gateway's that takes no `fromLeaders` is this one: status, result, events, long-polls,
    /// idempotent replays, and the record an idempotent retry finds.
    func record(_ id: String) async throws -> StoredRecord? {
        try await settledRecord(id)
    }

    /// Back to `pending` with no attempts, and the job's terminal event published again (under
    /// a message id of its own: the first is in the duplicate window).
    func resendWebhook(of id: String, service: String) async throws -> JobRecord? {
        guard let stored = try await record(id, fromLeaders: false), let ending = stored.ending else { return nil }
        let updated = try await update(id, by: .gateway) { record in
            guard record.webhook != nil else { return false }
            record.webhook?.state = .pending
            record.webhook?.attempts = 0
            record.webhook?.lastError = nil
            return true
        }
        guard let record = updated?.record else { return nil }
        try await publishEnd(of: id, service: service, ending: ending, messageID: "done-\(id)-replay-\(record.updatedAt.milliseconds)")
        return record.ended(with: ending)
    }
}

extension JobDispatcher: JobSubmitting {}
extension JobWatcher: JobWatching {}
extension JobEvents: JobEventStreaming {}

extension IdempotencyKeys: IdempotencyClaims {
    func claimed(_ key: String) async throws -> Claim? {
        try await bucket.get(key).flatMap { try? JSON.decode(Claim.self, from: $0.value) }
    }
}

/// Services as workers register them in KV (looked up with a cache), and the live catalogue.
struct NATSServiceDirectory: ServiceDirectory {
    let registry: ServiceRegistry
    let catalogue: ServiceCatalogue

    func lookup(_ name: String) async throws -> ServiceRegistration? { try await registry.lookup(name) }
    func catalogue() async throws -> ByteBuffer { try await catalogue.current() }
}

/// The dead letters in `BATON_DLQ`, read by direct get.
struct DeadLetterStream: DeadLetterReading {
    let jetStream: JetStream

    func page(_ query: DeadLetterQuery) async throws -> (letters: [DeadLetter], next: UInt64?) {
        let (messages, next) = try await query.read(jetStream)
        return (messages.map(Self.letter), next)
    }

    func letter(at sequence: UInt64) async throws -> DeadLetter? {
        try await jetStream.message(in: Streams.deadLetters, at: sequence).map(Self.letter)
    }

    static func letter(_ message: StoredMessage) -> DeadLetter {
        DeadLetter(
            sequence: message.sequence,
            kind: message.headers[Headers.deadLetterKind] ?? JobStore.DeadLetterKind.job.rawValue,
            job: message.headers[Headers.jobID],
            service: message.headers[Headers.service],
            owner: message.headers[Headers.owner],
            attempts: message.headers[Headers.attempts].flatMap(Int.init),
            error: message.headers[Headers.error],
            contentType: message.headers[Headers.contentType],
            payload: message.payload,
            storedAt: message.storedAt)
    }
}

/// Ready when the gateway is not draining, is connected to NATS, and every stream and bucket
/// exists.
struct NATSReadiness: Readiness {
    let connection: NATSConnection
    let jetStream: JetStream

    func unready() async -> Problem? {
        if connection.waitsInterrupted { return .unavailable("This gateway is shutting down.") }
        if !connection.isConnected { return .unavailable("Not connected to NATS.") }
        if await !Layout.isPresent(jetStream) { return .unavailable("JetStream streams or buckets are missing.") }
        return nil
    }
}
