import BatonCore
import BatonNATS

/// Claims of `Idempotency-Key`s (KV `baton-idempotency`): the first request with a key claims it
/// for its job id (create-only); later ones find the claim.
public struct IdempotencyKeys: Sendable {
    public let bucket: KeyValueBucket

    public init(jetStream: JetStream) {
        bucket = KeyValueBucket(Streams.idempotencyBucket, jetStream: jetStream)
    }

    public struct Claim: Sendable, Codable, Equatable {
        public var job: String
        /// A digest of what the request asked (service, content type, body).
        public var fingerprint: String
        public var createdAt: Timestamp

        public init(job: String, fingerprint: String, createdAt: Timestamp = .now) {
            self.job = job
            self.fingerprint = fingerprint
            self.createdAt = createdAt
        }
    }

    /// Claims `key` (already a KV-safe digest of caller and key) for `claim`, or returns the
    /// claim that was there first.
    public func claim(_ key: String, _ claim: Claim) async throws -> Claim? {
        do {
            try await bucket.create(key, JSON.encode(claim))
            return nil
        } catch let error as NATSError where error.kind == .wrongLastSequence {
            guard let entry = try await bucket.get(key) else { throw error }
            return try JSON.decode(Claim.self, from: entry.value)
        }
    }
}
