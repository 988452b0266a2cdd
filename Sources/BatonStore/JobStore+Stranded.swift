import BatonCore

/// Records made before their job's publish (`JobRecord.publishing`) whose job no queue may hold.
extension JobStore {
    /// Why a stranded record ended (`settled`).
    public static let strandedError = "Not queued: the gateway stopped before the job was stored."

    /// A job as readers see it (`record(_:)`), a stranded record settled first (`settled`).
    public func settledRecord(_ id: String, now: Timestamp = .now) async throws -> StoredRecord? {
        guard let stored = try await record(id) else { return nil }
        return try await settled(stored, now: now)
    }

    /// `stored`, or — when it is stranded (`JobRecord.isStranded`: made before its job's publish,
    /// and no gateway saw the job stored within `JobRecord.strandingGrace`) — the same record
    /// ended `notQueued`, as the gateway ends a job it could not queue. So no record says
    /// `queued` for ever for a job that no queue holds, whatever stopped its gateway between the
    /// record and the publish. Written by compare-and-set from `stored`: the first reader ends
    /// it, and a worker that started the job in the meantime wins. Should the gateway have
    /// stopped just after the publish, the worker that takes the job finds it ended and
    /// acknowledges it unrun, as any copy of a job marked `notQueued` (PROTOCOL.md §5).
    public func settled(_ stored: StoredRecord, now: Timestamp = .now) async throws -> StoredRecord {
        guard stored.record.isStranded(now: now) else { return stored }
        let written = try await markNotQueued(stored.record.id, from: stored, error: Self.strandedError, at: now) { record in
            var before = record
            before.state = .queued  // the transition has set the state it leads to
            return before.isStranded(now: now)
        }
        if let written { return written }
        return try await record(stored.record.id) ?? stored
    }

    /// Ends a `queued` record `notQueued` (`JobTransition.notQueued`, the gateway's): `error`
    /// says why, `finishedAt` when; `only` may refuse the record as it stands. The gateway's mark
    /// of a job it could not queue, and a reader's of a stranded one (`settled`).
    @discardableResult
    public func markNotQueued(
        _ id: String, from snapshot: StoredRecord? = nil, error: String, at now: Timestamp = .now,
        only condition: (JobRecord) -> Bool = { _ in true }
    ) async throws -> StoredRecord? {
        try await update(id, from: snapshot, .notQueued, by: .gateway) { record in
            guard condition(record) else { return false }
            record.publishing = nil
            record.error = error
            record.finishedAt = now
            return true
        }
    }
}
