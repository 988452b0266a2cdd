import BatonCore
import BatonNATS
import Synchronization

/// Which services exist: workers register them in KV `baton-services`; gateways look them up,
/// with a short cache so the hot path does not read KV on every call.
public final class ServiceRegistry: Sendable {
    private let bucket: KeyValueBucket
    private let cacheTTL: Duration
    private let cache = Mutex<[String: CacheEntry]>([:])

    private enum CacheEntry {
        case known(ServiceRegistration, until: ContinuousClock.Instant)
        /// A read of the bucket in flight: concurrent lookups share it. Without this, 10,000
        /// calls arriving together (or every call in the round trip after the entry aged out)
        /// each read the same key.
        case reading(Task<ServiceRegistration?, any Error>)
    }

    public init(jetStream: JetStream, cacheTTL: Duration = .seconds(5)) {
        self.bucket = KeyValueBucket(Streams.servicesBucket, jetStream: jetStream)
        self.cacheTTL = cacheTTL
    }

    public func register(_ registration: ServiceRegistration) async throws {
        try await bucket.put(registration.name, JSON.encode(registration))
        cache.withLock { $0[registration.name] = .known(registration, until: .now.advanced(by: cacheTTL)) }
    }

    /// The registration of `name`, or nil when no worker ever registered it.
    public func lookup(_ name: String) async throws -> ServiceRegistration? {
        let now = ContinuousClock.now
        enum Found { case cached(ServiceRegistration), reading(Task<ServiceRegistration?, any Error>) }
        let found = cache.withLock { cache -> Found in
            switch cache[name] {
            case .known(let registration, let until) where until > now:
                return .cached(registration)
            case .reading(let task):
                return .reading(task)
            case .known, nil:
                let task = Task { try await self.read(name) }
                cache[name] = .reading(task)
                return .reading(task)
            }
        }
        switch found {
        case .cached(let registration): return registration
        case .reading(let task): return try await task.value
        }
    }

    /// Reads `name` from the bucket and caches what it found (an unknown name is not cached: it
    /// may be registered any moment).
    private func read(_ name: String) async throws -> ServiceRegistration? {
        do {
            let registration = try await bucket.get(name).map { try JSON.decode(ServiceRegistration.self, from: $0.value) }
            cache.withLock { cache in
                cache[name] = registration.map { .known($0, until: .now.advanced(by: cacheTTL)) }
            }
            return registration
        } catch {
            cache.withLock { $0[name] = nil }
            throw error
        }
    }

    /// Every registered service, sorted by name (read from KV, not cached; unreadable entries
    /// are skipped).
    public func all() async throws -> [ServiceRegistration] {
        try await bucket.entries()
            .compactMap { try? JSON.decode(ServiceRegistration.self, from: $0.value) }
            .sorted { $0.name < $1.name }
    }
}
