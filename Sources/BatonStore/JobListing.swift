import BatonCore
import BatonNATS

/// Which recent jobs to list (`GET /v1/jobs`, `baton jobs`).
public struct JobQuery: Sendable, Equatable {
    public var service: String?
    public var state: JobState?
    /// With API keys on, only the jobs this key created.
    public var owner: String?
    public var limit: Int
    /// Continue below this position of the records' stream (a previous listing's `next`).
    public var before: UInt64?

    /// At most this many stored records are looked at per call, found or not: a filter that
    /// matches rarely returns a short page and a `next`, not a scan of the whole bucket.
    public static let scanLimit = 2_000
    /// Direct gets in flight at once while scanning.
    static let window: UInt64 = 32

    public init(service: String? = nil, state: JobState? = nil, owner: String? = nil, limit: Int = 20, before: UInt64? = nil) {
        self.service = service
        self.state = state
        self.owner = owner
        self.limit = limit
        self.before = before
    }
}

/// A page of the job list.
public struct JobListing: Sendable {
    public var jobs: [JobRecord]
    /// Where the next page starts (pass it as `JobQuery.before`); nil when nothing older is
    /// stored.
    public var next: UInt64?

    public init(jobs: [JobRecord], next: UInt64?) {
        self.jobs = jobs
        self.next = next
    }
}

extension JobStore {
    /// Recent jobs, newest first, as readers see them (record and end merged, a stranded record
    /// settled: `settled`).
    ///
    /// The index is the records bucket's own stream, read backwards by sequence: each record's
    /// latest revision sits at the sequence of its last write (the gateway's create, or a
    /// worker's running mark or progress), older revisions are gone (one revision per key).
    /// So no write is added to a job's path for the list. A call reads the records in windows
    /// of direct gets (`JobQuery.window` in flight), filters them by service and owner, reads
    /// the answer entry of each record that passes (its end: the state filter needs it), and
    /// stops at `limit` jobs or `JobQuery.scanLimit` records looked at. Cost per call: about
    /// `limit` (or `scanLimit` for a rare filter) record gets plus one answer get per candidate.
    public func list(_ query: JobQuery) async throws -> JobListing {
        guard let (first, last) = try await records.sequences(), last > 0 else { return JobListing(jobs: [], next: nil) }
        let lowest = max(first, 1)
        if let before = query.before, before <= lowest { return JobListing(jobs: [], next: nil) }
        var sequence = min(query.before.map { $0 - 1 } ?? last, last)  // the next one to read
        var jobs: [JobRecord] = []
        var scanned = 0
        var seen = Set<String>()
        while jobs.count < query.limit, scanned < JobQuery.scanLimit {
            let through = sequence - min(JobQuery.window - 1, sequence - lowest)
            let entries = try await records.entries(descendingFrom: sequence, through: through)
            scanned += Int(sequence - through + 1)
            let candidates = entries.compactMap { entry -> (revision: UInt64, record: JobRecord)? in
                guard seen.insert(entry.key).inserted, let record = try? JSON.decode(JobRecord.self, from: entry.value) else { return nil }
                if let service = query.service, record.service != service { return nil }
                if let owner = query.owner, record.owner != owner { return nil }
                return (entry.revision, record)
            }
            let endings = try await self.endings(of: candidates.map(\.record.id))
            for candidate in candidates {
                var job = candidate.record.ended(with: endings[candidate.record.id])
                if job.isStranded() {  // rare: its gateway stopped before the publish (`settled`)
                    job = (try? await settled(StoredRecord(record: job, revision: candidate.revision)))?.record ?? job
                }
                if let state = query.state, job.state != state { continue }
                jobs.append(job)
                if jobs.count == query.limit {
                    return JobListing(jobs: jobs, next: candidate.revision > lowest ? candidate.revision : nil)
                }
            }
            if through == lowest { return JobListing(jobs: jobs, next: nil) }
            sequence = through - 1
        }
        return JobListing(jobs: jobs, next: sequence + 1)
    }

    /// The ends of `ids` that have one, read at once.
    private func endings(of ids: [String]) async throws -> [String: JobEnding] {
        let results = self.results
        return try await withThrowingTaskGroup(of: (String, JobEnding?).self) { group in
            for id in ids {
                group.addTask { (id, try await results.get(id).flatMap { JobEnding(headers: $0.headers, body: $0.value) }) }
            }
            var endings: [String: JobEnding] = [:]
            for try await (id, ending) in group { endings[id] = ending }
            return endings
        }
    }
}
