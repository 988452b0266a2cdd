import Metrics
import Synchronization

/// swift-metrics handles made once per key (a service, a service and a state) and reused.
///
/// Making a handle goes through the metrics factory every time: a lock on the metrics system,
/// the name and label checks and a registry lookup of swift-prometheus, and an allocation. Made
/// per job, that was ~5% of a worker's CPU and ~2% of a gateway's under the fast lane's load
/// (perf). Keys must come from a bounded set (configured services, states), never from input.
///
/// A process bootstraps its metrics factory once, so handles made after that stay right for
/// its life. Handles made before it (swift-metrics' no-op factory) are not kept: a process that
/// bootstraps after its first jobs still counts the later ones.
///
/// Its lookup is `@inlinable`, so that each caller's module specializes it for its own key and
/// handles: unspecialized, every lookup instantiated the generic dictionary's metadata at run
/// time (~1.8% of a worker's CPU under the durable lane's load, perf, most of it in the Swift
/// runtime's metadata caches).
public final class MetricHandles<Key: Hashable & Sendable, Handles: Sendable>: Sendable {
    @usableFromInline let made = Mutex<[Key: Handles]>([:])
    @usableFromInline let make: @Sendable (Key) -> Handles

    public init(_ make: @escaping @Sendable (Key) -> Handles) {
        self.make = make
    }

    @inlinable public subscript(key: Key) -> Handles {
        if let handles = made.withLock({ $0[key] }) { return handles }
        let handles = make(key)
        if !(MetricsSystem.factory is NOOPMetricsHandler) {
            made.withLock { $0[key] = handles }
        }
        return handles
    }
}

/// A key of two labels' values (`service` and `state`, `service` and `outcome`, ...).
public struct LabelPair: Hashable, Sendable {
    public var first: String
    public var second: String

    public init(_ first: String, _ second: String) {
        self.first = first
        self.second = second
    }
}
