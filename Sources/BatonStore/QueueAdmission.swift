import BatonCore
import BatonNATS
import Synchronization

/// The queue bound (`--max-queued`) of a process whose bound is lower than the one the jobs
/// stream holds.
///
/// The stream enforces its own `max_msgs_per_subject` exactly (a publish to a full subject is
/// refused). Baton never lowers it in place, because lowering deletes queued jobs
/// (`StreamSpec.reconciled(with:)`); a gateway started with a lower `--max-queued` than the
/// stream's checks the queue's depth itself before it queues a job: the stream's per-subject
/// count (`$JS.API.STREAM.INFO` with `subjects_filter`), read at most every `refresh` per subject,
/// plus the jobs this gateway admitted since that read. Concurrent submits share one read and
/// each reserves its place under a lock, so one gateway never admits more than its bound; several
/// gateways may together exceed it by what the others admit within one `refresh` (a soft bound).
/// Every accepted job stays queued, and the stream's bound stays the hard one.
public final class QueueAdmission: Sendable {
    /// This process's bound (jobs per service and priority); 0: none of its own.
    public let bound: Int
    /// The bound the jobs stream enforces (`max_msgs_per_subject`; <= 0: unbounded).
    public let streamBound: Int64
    /// How long a depth read is trusted.
    public let refresh: Duration
    private let jetStream: JetStream?
    private let depths = Mutex<[String: Depth]>([:])

    private struct Depth {
        /// The subject's message count at the last read.
        var read: UInt64
        var readAt: ContinuousClock.Instant
        /// Jobs admitted here since that read.
        var admitted: UInt64 = 0
    }

    /// - Parameters:
    ///   - bound: this process's `--max-queued` (0: none).
    ///   - streamBound: the jobs stream's `max_msgs_per_subject` after `Layout.ensure`.
    public init(bound: Int, streamBound: Int64, jetStream: JetStream?, refresh: Duration = .milliseconds(250)) {
        self.bound = bound
        self.streamBound = streamBound
        self.refresh = refresh
        self.jetStream = jetStream
    }

    /// No admission check of its own: the stream's bound is this process's (or there is none).
    public static let streamEnforced = QueueAdmission(bound: 0, streamBound: 0, jetStream: nil)

    /// True when this process must check depths itself: its bound is tighter than the stream's.
    public var checksDepth: Bool { bound > 0 && (streamBound <= 0 || Int64(bound) < streamBound) }

    /// True when a job may be queued on `service` at `priority` now; it then counts toward the
    /// depth until the next read.
    public func admit(service: String, priority: Priority) async throws -> Bool {
        guard checksDepth, let jetStream else { return true }
        let subject = Subjects.job(service: service, priority: priority)
        let asked = ContinuousClock.now
        if let decided = depths.withLock({ depths in reserve(&depths[subject], fresh: asked) }) { return decided }
        let read = try await jetStream.subjectCounts(in: Streams.jobs, matching: subject)[subject] ?? 0
        return depths.withLock { depths in
            // Another submit's read that began after this one's asked is at least as new.
            if let decided = reserve(&depths[subject], fresh: asked) { return decided }
            depths[subject] = Depth(read: read, readAt: asked)
            return reserve(&depths[subject], fresh: asked) ?? false
        }
    }

    /// Decides on a depth read at or after `fresh - refresh` (nil: none; read again).
    private func reserve(_ depth: inout Depth?, fresh now: ContinuousClock.Instant) -> Bool? {
        guard var current = depth, now - current.readAt < refresh else { return nil }
        let admitted = current.read + current.admitted < UInt64(bound)
        if admitted { current.admitted += 1 }
        depth = current
        return admitted
    }
}
