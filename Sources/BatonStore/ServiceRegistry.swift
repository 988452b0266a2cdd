import BatonCore
import BatonNATS
import Synchronization

/// Which services exist: workers register them in KV `baton-services`; gateways look them up,
/// with a short cache so the hot path does not read KV on every call.
public final class ServiceRegistry: Sendable {
    private let bucket: KeyValueBucket
    private let cacheTTL: Duration
    private let cache = Mutex<[String: (registration: ServiceRegistration, until: ContinuousClock.Instant)]>([:])

    public init(jetStream: JetStream, cacheTTL: Duration = .seconds(5)) {
        self.bucket = KeyValueBucket(Streams.servicesBucket, jetStream: jetStream)
        self.cacheTTL = cacheTTL
    }

    public func register(_ registration: ServiceRegistration) async throws {
        try await bucket.put(registration.name, JSON.encode(registration))
        cache.withLock { $0[registration.name] = (registration, .now.advanced(by: cacheTTL)) }
    }

    /// The registration of `name`, or nil when no worker ever registered it.
    public func lookup(_ name: String) async throws -> ServiceRegistration? {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[name] }), cached.until > now {
            return cached.registration
        }
        guard let entry = try await bucket.get(name) else { return nil }
        let registration = try JSON.decode(ServiceRegistration.self, from: entry.value)
        cache.withLock { $0[name] = (registration, now.advanced(by: cacheTTL)) }
        return registration
    }

    /// Every registered service, sorted by name (read from KV, not cached; unreadable entries
    /// are skipped).
    public func all() async throws -> [ServiceRegistration] {
        try await bucket.entries()
            .compactMap { try? JSON.decode(ServiceRegistration.self, from: $0.value) }
            .sorted { $0.name < $1.name }
    }
}
