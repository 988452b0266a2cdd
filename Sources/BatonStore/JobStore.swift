import BatonCore
import BatonNATS
import NIOCore

/// Job records and answers in KV, with compare-and-set updates.
///
/// Records (`baton-jobs`) are small JSON documents updated through a job's life; answers
/// (`baton-results`) are written once, the body as is with `Baton-Status` and `Content-Type` as
/// entry headers, so nothing is base64-encoded and large answers are not rewritten on progress.
public struct JobStore: Sendable {
    public let records: KeyValueBucket
    public let results: KeyValueBucket

    public init(jetStream: JetStream) {
        records = KeyValueBucket(Streams.recordsBucket, jetStream: jetStream)
        results = KeyValueBucket(Streams.resultsBucket, jetStream: jetStream)
    }

    /// Stores a new record; fails with `.wrongLastSequence` if the id exists. Returns its revision.
    @discardableResult
    public func create(_ record: JobRecord) async throws -> UInt64 {
        try await records.create(record.id, JSON.encode(record))
    }

    public func record(_ id: String) async throws -> StoredRecord? {
        guard let entry = try await records.get(id) else { return nil }
        return StoredRecord(record: try JSON.decode(JobRecord.self, from: entry.value), revision: entry.revision)
    }

    /// Reads, changes and writes a record until no other writer comes between (or `change`
    /// returns false: nothing to do). Returns the record as written, or nil when unchanged or
    /// absent.
    ///
    /// - Parameter snapshot: the record as the caller believes it is; the first write is tried
    ///   against it without reading (one round trip instead of two), and a conflict falls back
    ///   to reading the record.
    @discardableResult
    public func update(
        _ id: String, from snapshot: StoredRecord? = nil, attempts: Int = 8, _ change: (inout JobRecord) -> Bool
    ) async throws -> StoredRecord? {
        var current = snapshot
        for _ in 0..<attempts {
            if current == nil { current = try await record(id) }
            guard let stored = current else { return nil }
            var next = stored.record
            guard change(&next) else { return nil }
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

    /// Stores the answer of a job unless one is stored already: the first answer wins, so a
    /// stale worker (paused past its ack wait while another finished the job) cannot replace
    /// it. Returns the answer that is stored and the terminal state it belongs to.
    public func recordAnswer(_ id: String, _ answer: JobAnswer, state: JobState) async throws -> (answer: JobAnswer, state: JobState) {
        var headers = answer.natsHeaders(jobID: nil)
        headers[Self.stateHeader] = state.rawValue
        do {
            try await results.create(id, answer.body, headers: headers)
            return (answer, state)
        } catch let error as NATSError where error.kind == .wrongLastSequence {
            guard let entry = try await results.get(id) else { throw error }
            let stored = JobAnswer(headers: entry.headers, body: entry.value)
            return (stored, entry.headers[Self.stateHeader].flatMap(JobState.init(rawValue:)) ?? state)
        }
    }

    static let stateHeader = "Baton-State"

    /// Ends a job: stores its answer (first answer wins), marks the record terminal if nobody
    /// did, calls `beforeEvent` with the stored answer (to answer a waiting gateway as early as
    /// possible), then publishes the terminal event on `baton.done.<service>.<job>`. Returns the
    /// answer that is stored, and the state it belongs to, which every reader will see.
    @discardableResult
    public func finish(
        _ id: String, service: String, answer: JobAnswer, state: JobState, error: String?, worker: String? = nil,
        from snapshot: StoredRecord? = nil, beforeEvent: (JobAnswer) -> Void = { _ in }
    ) async throws -> (answer: JobAnswer, state: JobState) {
        let stored = try await recordAnswer(id, answer, state: state)
        var endedBefore: JobRecord? = nil
        let finished = try await update(id, from: snapshot) { record in
            guard !record.state.isTerminal else {
                endedBefore = record
                return false
            }
            record.state = stored.state
            record.status = stored.answer.status
            record.finishedAt = .now
            if let worker { record.worker = worker }
            if stored.state == .succeeded {
                record.progress = JobProgress(percent: 100, message: record.progress?.message)
            } else {
                record.error = error
            }
            return true
        }
        beforeEvent(stored.answer)
        // Whoever ends the record publishes its event; a record found ended already may be
        // the work of an earlier try of this very call whose event failed (NATS electing a
        // leader), so its event is published too (dropped by JetStream if it got through).
        if let ended = finished?.record ?? endedBefore {
            try await publishEnd(of: ended)
        }
        return stored
    }

    public func result(_ id: String) async throws -> JobAnswer? {
        guard let entry = try await results.get(id) else { return nil }
        return JobAnswer(headers: entry.headers, body: entry.value)
    }
}

extension JobAnswer {
    /// The answer as NATS headers (the body travels as the payload).
    public func natsHeaders(jobID: String?) -> NATSHeaders {
        var headers = NATSHeaders()
        headers[Headers.status] = String(status)
        if let contentType { headers[Headers.contentType] = contentType }
        if let jobID { headers[Headers.jobID] = jobID }
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

/// A job record with the KV revision it was read or written at.
public struct StoredRecord: Sendable {
    public var record: JobRecord
    public var revision: UInt64

    public init(record: JobRecord, revision: UInt64) {
        self.record = record
        self.revision = revision
    }
}
