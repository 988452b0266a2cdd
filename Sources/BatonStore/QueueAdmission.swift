import BatonCore
import BatonNATS
import Synchronization

/// The queue bound (`--max-queued`) of a process whose bound is lower than the one the jobs
/// stream holds.
///
/// The stream enforces its own `max_msgs_per_subject` exactly (a publish to a full subject is
/// refused). Baton never lowers it in place, because lowering deletes queued jobs
/// (`StreamSpec.reconciled(with:)`); a gateway started with a lower `--max-queued` than the
/// stream's checks the queue's depth itself before it records a job: from the stream's
/// per-subject counts (`$JS.API.STREAM.INFO` with `subjects_filter`), read at most every
/// `refresh` per subject and counted up by this gateway's own accepted jobs in between. So the
/// lower bound is kept to within what other gateways accept in one `refresh`, every accepted
/// job stays queued, and the stream's bound stays the hard one.
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
        var count: UInt64
        var readAt: ContinuousClock.Instant
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

    /// True when a job may be queued on `service` at `priority` now. When it returns true the
    /// job counts toward the depth until the next read.
    public func admit(service: String, priority: Priority) async throws -> Bool {
        guard checksDepth, let jetStream else { return true }
        let subject = Subjects.job(service: service, priority: priority)
        let now = ContinuousClock.now
        let cached = depths.withLock { $0[subject] }
        var depth: UInt64
        if let cached, now - cached.readAt < refresh {
            depth = cached.count
        } else {
            depth = try await jetStream.subjectCounts(in: Streams.jobs, matching: subject)[subject] ?? 0
        }
        let admitted = depth < UInt64(bound)
        if admitted { depth += 1 }
        let stored = Depth(count: depth, readAt: cached.map { now - $0.readAt < refresh ? $0.readAt : now } ?? now)
        depths.withLock { $0[subject] = stored }
        return admitted
    }
}
