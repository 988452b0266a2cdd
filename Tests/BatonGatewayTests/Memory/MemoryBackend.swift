@testable import BatonGateway
import BatonCore
import BatonStore
import Hummingbird
import NIOCore
import Synchronization

/// A job as an in-memory worker gets it.
struct MemoryJob: Sendable {
    var id: String
    var service: String
    var input: ByteBuffer
    var contentType: String?
    var owner: String?
}

/// What an in-memory worker does with a job: its answer (a status below 400 ends the job
/// `succeeded`, any other `failed`; a thrown error is a 500). Cancelling the job cancels it.
typealias MemoryHandler = @Sendable (MemoryJob) async throws -> JobAnswer

/// The gateway's backend in memory, for the HTTP contract tests: what `NATSBackend` keeps in
/// JetStream (records, ends, claims, services, dead letters) in one locked state, and workers
/// as closures the test gives per service.
///
/// The same rules as the real one: records change state only by `JobTransition`, and an end is
/// written once (the first end wins, so a cancel and a worker's answer race as they do on
/// NATS). A record's revision is its position in one write sequence, as a KV revision is its
/// position in the bucket's stream (the job list pages by it). Not modelled: the gateway's
/// drain, queue bounds, webhook delivery and progress events.
final class MemoryBackend: GatewayBackend, Sendable {
    struct State {
        var records: [String: StoredRecord] = [:]
        var endings: [String: JobEnding] = [:]
        /// The last write's position (records) and the last dead letter's sequence.
        var writes: UInt64 = 0
        var letters: [DeadLetter] = []
        var claims: [String: IdempotencyKeys.Claim] = [:]
        var services: [String: (registration: ServiceRegistration, handler: MemoryHandler?)] = [:]
        /// Workers running a job, by job id (a cancel cancels them).
        var running: [String: Task<Void, Never>] = [:]
        /// The ends waited for, by job id.
        var ends: [String: OneShot<Void>] = [:]
        var unready: Problem?
    }

    let state = Mutex(State())

    var jobs: MemoryBackend { self }
    var dispatcher: MemoryDispatcher { MemoryDispatcher(backend: self) }
    var watcher: MemoryBackend { self }
    var events: MemoryBackend { self }
    var services: MemoryBackend { self }
    var claims: MemoryBackend { self }
    var deadLetters: MemoryBackend { self }
    var readiness: MemoryBackend { self }

    func beforeScrape() {}

    // MARK: - What the tests set up

    /// Registers `name`; `handler` nil: no worker serves it (durable jobs stay queued, fast-lane
    /// calls find no responder).
    func register(_ name: String, lane: Lane = .durable, handler: MemoryHandler?) {
        let registration = ServiceRegistration(name: name, lane: lane, version: "1.0.0", description: "\(name) (in memory)")
        state.withLock { $0.services[name] = (registration, handler) }
    }

    /// Stores a dead letter; returns its sequence.
    @discardableResult
    func addDeadLetter(kind: JobStore.DeadLetterKind, job: String, service: String, owner: String? = nil, input: String) -> UInt64 {
        state.withLock { state in
            let sequence = UInt64(state.letters.count + 1)
            state.letters.append(DeadLetter(
                sequence: sequence, kind: kind.rawValue, job: job, service: service, owner: owner, attempts: 3, error: "it failed",
                contentType: "text/plain", payload: ByteBuffer(string: input), storedAt: Timestamp.now.description))
            return sequence
        }
    }

    func setUnready(_ problem: Problem?) { state.withLock { $0.unready = problem } }

    // MARK: - Records and ends (what `JobStore` does in KV)

    /// Stores a new record; false when the id exists (a KV create's `wrongLastSequence`).
    @discardableResult
    func create(_ record: JobRecord) -> Bool {
        state.withLock { state in
            guard state.records[record.id] == nil else { return false }
            state.writes += 1
            state.records[record.id] = StoredRecord(record: record, revision: state.writes)
            return true
        }
    }

    /// Changes a record by `transition` (written by `party`) and `change`; nil when the record is
    /// absent or the lifecycle does not allow the transition from its state.
    @discardableResult
    func update(_ id: String, _ transition: JobTransition? = nil, by party: JobParty, _ change: (inout JobRecord) -> Void = { _ in }) -> JobRecord? {
        state.withLock { state in
            guard var record = state.records[id]?.record else { return nil }
            if let transition {
                guard (try? record.apply(transition, by: party)) != nil else { return nil }
            }
            change(&record)
            record.updatedAt = .now
            state.writes += 1
            state.records[id] = StoredRecord(record: record, revision: state.writes)
            return record
        }
    }

    /// Ends a job (first end wins); returns the end that is stored. Wakes whoever waits for it.
    @discardableResult
    func finish(_ id: String, by party: JobParty, ending proposed: JobEnding) throws -> JobEnding {
        guard JobTransition.ending(in: proposed.state, by: party) != nil else {
            throw JobLifecycleViolation(transition: nil, from: nil, party: party)
        }
        let (ending, first) = state.withLock { state in
            if let first = state.endings[id] { return (first, false) }
            state.endings[id] = proposed
            return (proposed, true)
        }
        if first { end(of: id).set(()) }
        return ending
    }

    /// Ends a job with `answer`, as its worker would; what a test calls to end a job it holds.
    @discardableResult
    func complete(_ id: String, with answer: JobAnswer) throws -> JobEnding {
        let record = state.withLock { $0.records[id]?.record }
        let ending = JobEnding(
            answer: answer, state: answer.status < 400 ? .succeeded : .failed, service: record?.service, startedAt: record?.startedAt,
            attempts: record.map { max($0.attempts, 1) }, worker: "memory-worker")
        return try finish(id, by: .worker, ending: ending)
    }

    /// Returns once the job has ended, or after `timeout`; true when it ended.
    func waitUntilEnded(_ id: String, timeout: Duration) async -> Bool {
        if state.withLock({ $0.endings[id] != nil }) { return true }
        return await end(of: id).value(within: timeout) != nil
    }

    private func end(of id: String) -> OneShot<Void> {
        state.withLock { state in
            if let end = state.ends[id] { return end }
            let end = OneShot<Void>()
            state.ends[id] = end
            return end
        }
    }

    /// The worker task running `id`, kept so that a cancel can cancel it.
    func track(_ id: String, _ task: Task<Void, Never>) {
        state.withLock { $0.running[id] = task }
    }

    func handler(of service: String) -> MemoryHandler? {
        state.withLock { $0.services[service]?.handler }
    }
}

// MARK: - JobRepository

extension MemoryBackend: JobRepository {
    func record(_ id: String) async throws -> StoredRecord? {
        state.withLock { state in
            let ending = state.endings[id]
            guard let stored = state.records[id] else {
                return ending.map { StoredRecord(record: JobRecord(id: id, ending: $0), revision: 0, ending: $0) }
            }
            return StoredRecord(record: stored.record.ended(with: ending), revision: stored.revision, ending: ending)
        }
    }

    func cancel(_ id: String, from snapshot: StoredRecord?) async throws -> JobStore.CancelOutcome {
        var found = snapshot
        if found == nil { found = try await record(id) }
        guard let current = found else { return .unknown }
        if current.record.state.isTerminal { return .alreadyEnded(current.record) }
        let proposed = JobEnding.cancelledByClient(id, service: current.record.service)
        let ending = try finish(id, by: .client, ending: proposed)
        state.withLock { $0.running.removeValue(forKey: id) }?.cancel()
        let record = current.record.ended(with: ending)
        return ending.state == .cancelled ? .cancelled(record) : .alreadyEnded(record)
    }

    func list(_ query: JobQuery) async throws -> JobListing {
        state.withLock { state in
            let lowest = state.records.values.map(\.revision).min() ?? 0
            let newestFirst = state.records.values
                .filter { stored in query.before.map { stored.revision < $0 } ?? true }
                .sorted { $0.revision > $1.revision }
            var jobs: [JobRecord] = []
            for stored in newestFirst {
                let record = stored.record
                if let service = query.service, record.service != service { continue }
                if let owner = query.owner, record.owner != owner { continue }
                let job = record.ended(with: state.endings[record.id])
                if let wanted = query.state, job.state != wanted { continue }
                jobs.append(job)
                if jobs.count == query.limit {
                    return JobListing(jobs: jobs, next: stored.revision > lowest ? stored.revision : nil)
                }
            }
            return JobListing(jobs: jobs, next: nil)
        }
    }

    func resendWebhook(of id: String, service: String) async throws -> JobRecord? {
        guard let stored = try await record(id), let ending = stored.ending, stored.record.webhook != nil else { return nil }
        let updated = update(id, by: .gateway) { record in
            record.webhook?.state = .pending
            record.webhook?.attempts = 0
            record.webhook?.lastError = nil
        }
        return updated?.ended(with: ending)
    }
}

// MARK: - Watching, services, claims, dead letters, readiness

extension MemoryBackend: JobWatching {
    func waitForEnd(_ id: String, timeout: Duration) async throws -> StoredRecord? {
        guard let first = try await record(id) else { return nil }
        if first.record.state.isTerminal || timeout <= .zero { return first }
        _ = await waitUntilEnded(id, timeout: timeout)
        return try await record(id) ?? first
    }
}

extension MemoryBackend: ServiceDirectory {
    func lookup(_ name: String) async throws -> ServiceRegistration? {
        state.withLock { $0.services[name]?.registration }
    }

    func catalogue() async throws -> ByteBuffer {
        let registrations = state.withLock { $0.services.values.map(\.registration) }.sorted { $0.name < $1.name }
        let services = registrations.map {
            CatalogueService(
                name: $0.name, lane: $0.lane, version: $0.version, description: $0.description, instances: [], registeredAt: $0.updatedAt)
        }
        return try JSON.encode(CatalogueBody(services: services, readAt: .now))
    }
}

extension MemoryBackend: IdempotencyClaims {
    func claim(_ key: String, _ claim: IdempotencyKeys.Claim) async throws -> IdempotencyKeys.Claim? {
        state.withLock { state in
            if let first = state.claims[key] { return first }
            state.claims[key] = claim
            return nil
        }
    }

    func claimed(_ key: String) async throws -> IdempotencyKeys.Claim? {
        state.withLock { $0.claims[key] }
    }
}

extension MemoryBackend: DeadLetterReading {
    /// The query's order and filters over every dead letter (no scan limit: there are few).
    func page(_ query: DeadLetterQuery) async throws -> (letters: [DeadLetter], next: UInt64?) {
        let letters = state.withLock { $0.letters }
        let matching = letters.filter { letter in
            (query.owner.map { letter.owner == $0 } ?? true) && (query.job.map { letter.job == $0 } ?? true)
        }
        let page: [DeadLetter]
        switch query.order {
        case .oldest: page = Array(matching.filter { $0.sequence > (query.position ?? 0) }.prefix(query.limit))
        case .newest: page = Array(matching.reversed().filter { $0.sequence < (query.position ?? .max) }.prefix(query.limit))
        }
        guard page.count == query.limit, let last = page.last else { return (page, nil) }
        return (page, query.order == .oldest || last.sequence > 1 ? last.sequence : nil)
    }

    func letter(at sequence: UInt64) async throws -> DeadLetter? {
        state.withLock { $0.letters.first { $0.sequence == sequence } }
    }
}

extension MemoryBackend: Readiness {
    func unready() async -> Problem? { state.withLock { $0.unready } }
}

extension MemoryBackend: JobEventStreaming {
    /// The state, then (once the job ends) the end; no progress events.
    func response(for record: JobRecord) throws -> Response {
        let id = record.id
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .batonJobID: id], body: ResponseBody { writer in
            let current = (try await self.record(id)?.record) ?? record
            try await writer.write(JobEvents.event("state", try JSON.encode(JobStatus(record: current))))
            if !current.state.isTerminal {
                _ = await self.waitUntilEnded(id, timeout: .seconds(30))
            }
            let final = (try await self.record(id)?.record) ?? current
            try await writer.write(JobEvents.event("done", try JSON.encode(JobStatus(record: final))))
            try await writer.finish(nil)
        })
    }
}
