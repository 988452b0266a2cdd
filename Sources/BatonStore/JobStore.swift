import BatonCore
import BatonNATS
import NIOCore

/// Job records and answers in KV.
///
/// A record (`baton-jobs`) is a small JSON document that follows a job until it ends: created
/// by a gateway, marked running (or queued again for a retry) and given progress by workers,
/// each change by compare-and-set and allowed by `JobTransition`. A job ends with one write: its
/// answer entry (`baton-results`), create-only, the body as is and the end in its headers
/// (`JobEnding`). Readers see the two merged (`record(_:)`).
public struct JobStore: Sendable {
    public let records: KeyValueBucket
    public let results: KeyValueBucket

    public init(jetStream: JetStream) {
        records = KeyValueBucket(Streams.recordsBucket, jetStream: jetStream)
        results = KeyValueBucket(Streams.resultsBucket, jetStream: jetStream)
    }

    /// Stores a new record, written by `party` (its state must be one a transition from no
    /// record gives that party); fails with `.wrongLastSequence` if the id exists. Returns its
    /// revision.
    @discardableResult
    public func create(_ record: JobRecord, by party: JobParty) async throws -> UInt64 {
        try Self.checkCreation(record, by: party)
        return try await records.create(record.id, JSON.encode(record))
    }

    /// Sends `create` and returns at once: the record's write is in flight, its acknowledgement
    /// (`SentPublish.ack()`, whose sequence is the revision) awaited later.
    public func sendCreate(_ record: JobRecord, by party: JobParty) throws -> SentPublish {
        try Self.checkCreation(record, by: party)
        return try records.sendCreate(record.id, JSON.encode(record))
    }

    /// Writes a record whatever is stored: only for a worker's running mark of a record it can
    /// rebuild from the job's headers (`Baton-Record: headers`), whose only other writer is the
    /// gateway's create (`JobTransition.start`, from `queued`).
    @discardableResult
    public func overwrite(_ record: JobRecord, by party: JobParty) async throws -> StoredRecord {
        guard JobTransition.start.allows(from: .queued, by: party), record.state == JobTransition.start.to else {
            throw JobLifecycleViolation(transition: .start, from: .queued, party: party)
        }
        return StoredRecord(record: record, revision: try await records.put(record.id, JSON.encode(record)))
    }

    /// A job as readers see it: its record with its end applied, and its answer once it has
    /// one; nil when neither exists. Both are read at once, by direct gets (any replica may
    /// answer), or from the streams' leaders (`fromLeaders`) for a decision a replica that lags
    /// would get wrong.
    ///
    /// A record entry that says the job ended while the answer entry read beside it is absent
    /// is read from a replica that lags on the answers' stream: the record was written back
    /// ended after the answer was stored (webhook bookkeeping writes the record as readers see
    /// it). The answer is then read again from its stream's leader, so that a result is never
    /// refused as `no-result` for a job that has one. (A job ended `notQueued` has no answer
    /// entry: it costs the one extra read.)
    public func record(_ id: String, fromLeaders: Bool = false) async throws -> StoredRecord? {
        async let entry = fromLeaders ? records.getFromLeader(id) : records.get(id)
        async let answer = fromLeaders ? results.getFromLeader(id) : results.get(id)
        let (recordEntry, found) = try await (entry, answer)
        var answerEntry = found
        let record = try recordEntry.map { try JSON.decode(JobRecord.self, from: $0.value) }
        if answerEntry == nil, !fromLeaders, record?.state.isTerminal == true {
            answerEntry = try await results.getFromLeader(id)
        }
        let ending = answerEntry.flatMap { JobEnding(headers: $0.headers, body: $0.value) }
        guard let recordEntry, let record else {
            guard let ending else { return nil }
            return StoredRecord(record: JobRecord(id: id, ending: ending), revision: 0, ending: ending)
        }
        return StoredRecord(record: record.ended(with: ending), revision: recordEntry.revision, ending: ending)
    }

    /// The job once its end is readable, after its answer subject announced it: the subscriber
    /// hears of the write as the stream stores it, so a read at that instant (or from a replica
    /// that lags) may not find it yet; it is read again a few times, over at most ~2 s.
    public func ended(_ id: String) async throws -> StoredRecord? {
        var found: StoredRecord? = nil
        for pause in [0, 5, 20, 50, 100, 200, 400, 600, 800] {
            if pause > 0 { try await Task.sleep(for: .milliseconds(pause)) }
            found = try await record(id)
            if found?.record.state.isTerminal == true { break }
        }
        return found
    }

    /// Reads, changes and writes a record until no other writer comes between. `transition`
    /// (written by `party`) sets the state; nil when the change keeps the state (progress,
    /// webhook bookkeeping). Returns the record as written, or nil when the record is absent,
    /// `change` returns false (nothing to do), or the transition does not apply to the record's
    /// state (it ended, for instance). A party that may never write `transition` is a fault:
    /// it throws, as does a `change` that touches the state.
    ///
    /// - Parameter snapshot: the record as the caller believes it is; the first write is tried
    ///   against it without reading (one round trip instead of two), and a conflict falls back
    ///   to reading the record.
    @discardableResult
    public func update(
        _ id: String, from snapshot: StoredRecord? = nil, _ transition: JobTransition? = nil, by party: JobParty, attempts: Int = 8,
        _ change: (inout JobRecord) -> Bool = { _ in true }
    ) async throws -> StoredRecord? {
        if let transition, !transition.parties.contains(party) {
            throw JobLifecycleViolation(transition: transition, from: snapshot?.record.state, party: party)
        }
        var current = snapshot
        for _ in 0..<attempts {
            if current == nil { current = try await record(id) }
            guard let stored = current, stored.revision > 0 else { return nil }
            var next = stored.record
            if let transition {
                guard transition.allows(from: next.state, by: party) else { return nil }
                next.state = transition.to
            }
            let state = next.state
            guard change(&next) else { return nil }
            guard next.state == state else {
                throw JobLifecycleViolation(transition: transition, from: stored.record.state, party: party)
            }
            next.updatedAt = .now
            do {
                let revision = try await records.update(id, JSON.encode(next), revision: stored.revision)
                return StoredRecord(record: next, revision: revision)
            } catch let error as NATSError where error.kind == .wrongLastSequence {
                current = nil  // someone else wrote first: read again
            }
        }
        throw NATSError(.wrongLastSequence, "record \(id) kept changing under \(attempts) attempts")
    }

    public func result(_ id: String) async throws -> JobAnswer? {
        guard let entry = try await results.get(id) else { return nil }
        return JobAnswer(headers: entry.headers, body: entry.value)
    }

    static func checkCreation(_ record: JobRecord, by party: JobParty) throws {
        let allowed = JobTransition.allCases.contains { $0.allows(from: nil, by: party) && $0.to == record.state }
        guard allowed else {
            let transition = JobTransition.allCases.first { $0.from == [nil] && $0.to == record.state } ?? .accept
            throw JobLifecycleViolation(transition: transition, from: nil, party: party)
        }
    }
}

extension JobAnswer {
    /// The answer as NATS headers (the body travels as the payload).
    ///
    /// - Parameter capacity: room for this many fields (a caller that adds more).
    public func natsHeaders(jobID: String?, capacity: Int = 3) -> NATSHeaders {
        var headers = NATSHeaders(minimumCapacity: capacity)
        headers.add(Headers.status, String(status))
        headers.add(Headers.contentType, contentType)
        headers.add(Headers.jobID, jobID)
        return headers
    }

    /// Reads an answer from NATS headers and payload.
    public init(headers: NATSHeaders, body: ByteBuffer) {
        self.init(
            status: headers[Headers.status].flatMap { Int($0) } ?? 200,
            contentType: headers[Headers.contentType],
            body: body
        )
    }
}

/// A job's record with the KV revision it was read or written at (0: the record is not stored,
/// only the job's end is), and the job's end when it has one.
public struct StoredRecord: Sendable {
    public var record: JobRecord
    public var revision: UInt64
    public var ending: JobEnding?

    public init(record: JobRecord, revision: UInt64, ending: JobEnding? = nil) {
        self.record = record
        self.revision = revision
        self.ending = ending
    }
}
