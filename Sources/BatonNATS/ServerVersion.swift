/// A nats-server release, as its `INFO` or `nats-server --version` states it (`2.15.1`,
/// `v2.9.10`, `2.12.0-RC.2`).
public struct NATSServerVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `2.15.1`, `v2.9.10`, `nats-server: v2.9.10` or `2.12.0-RC.2` (pre-release tags are
    /// dropped: a release candidate counts as its release).
    public init?(_ text: String) {
        let word = text.split(separator: " ").last.map(String.init) ?? ""
        let trimmed = word.hasPrefix("v") ? word.dropFirst() : word[...]
        let numbers = trimmed.prefix { $0 != "-" && $0 != "+" }.split(separator: ".").map { Int(String($0)) }
        guard numbers.count >= 2, numbers.allSatisfy({ $0 != nil }) else { return nil }
        self.init(numbers[0]!, numbers[1]!, numbers.count > 2 ? numbers[2]! : 0)
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }
}

/// What Baton may rely on in a given nats-server release: the one place that knows how the
/// servers Baton supports differ. Code that behaves differently by server asks here; it never
/// compares versions itself.
///
/// Baton supports and tests nats-server from `oldestSupported` (Debian bookworm's 2.9.10) to the
/// current release (`make test` runs the suite on the current one, `make test-oldest` on 2.9.10).
/// Baton's wire protocol is the same on all of them: it uses no feature newer than 2.9 on the
/// request path (see docs/NATS-SERVERS.md for each newer feature and why it is or is not used).
public struct ServerCapabilities: Sendable, Hashable {
    public let version: NATSServerVersion

    /// Debian bookworm's nats-server, the oldest release Baton is tested on.
    public static let oldestSupported = NATSServerVersion(2, 9, 10)

    public init(_ version: NATSServerVersion) { self.version = version }

    /// Older than anything Baton is tested on (it logs a warning, and still tries).
    public var isSupported: Bool { version >= Self.oldestSupported }

    /// `jetstream { sync_interval: always | <duration> }` in the server configuration (2.10+):
    /// fsync on every write, or on a shorter timer than the default 2 minutes. 2.9 rejects the
    /// field (`unknown field "sync_interval"`) and refuses to start.
    public var hasSyncInterval: Bool { version >= NATSServerVersion(2, 10, 0) }

    /// A message handed back (`-NAK`) while pull requests of its consumer are open keeps its
    /// delivery count. nats-server before 2.10.14 (nats-server#5305, fixed by #5306) could
    /// reset it, so a job's attempts are counted from the starts Baton records as well as from
    /// the server's delivery count, and a draining worker lets its open pull requests expire
    /// before it hands jobs back (`PriorityPuller`); both are harmless on fixed servers.
    public var keepsDeliveryCountOnNak: Bool { version >= NATSServerVersion(2, 10, 14) }

    /// A restarted replica always catches up with its stream's leader (same last sequence and
    /// messages). On 2.9 a work-queue replica restarted after SIGKILL can keep messages its
    /// leader already deleted, or keep its sequence numbers out of step while holding every
    /// message (nats-server#5054, #5362, fixed in 2.10). Baton reads records defensively on any
    /// server (a stale or missing record is read again); `make chaos` fails on a replica that
    /// never catches up only where this is true.
    public var replicasAlwaysCatchUp: Bool { version >= NATSServerVersion(2, 10, 0) }

    /// Per-message TTL (`Nats-TTL`, stream `allow_msg_ttl`, 2.11+). Not used by Baton: jobs
    /// expire by their deadline (checked when a worker takes them), records by the bucket's age.
    public var hasPerMessageTTL: Bool { version >= NATSServerVersion(2, 11, 0) }

    /// Consumer priority groups (pinned client, overflow; 2.11+). Not used by Baton: priorities
    /// are one consumer per priority, which 2.9 supports too.
    public var hasConsumerPriorityGroups: Bool { version >= NATSServerVersion(2, 11, 0) }

    /// A compare-and-set write (`Nats-Expected-Last-Subject-Sequence`) that meets another write
    /// to the same subject still being proposed on a replicated stream is refused with err_code
    /// 10164 (2.11+) where older servers order the two and answer 10071 to the loser. Both mean
    /// the same conflict to Baton (`NATSError.Kind.wrongLastSequence`), so nothing branches on it.
    public var refusesConcurrentCompareAndSet: Bool { version >= NATSServerVersion(2, 11, 0) }

    /// Atomic batch publish (`Nats-Batch-Id`, stream `allow_atomic`, 2.12+).
    public var hasAtomicBatchPublish: Bool { version >= NATSServerVersion(2, 12, 0) }
}
