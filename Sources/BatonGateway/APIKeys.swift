import BatonCore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// API keys: who may call, and at what rate.
///
/// The file (`--api-keys FILE`) or `BATON_API_KEYS` holds one key a line (or comma-separated in
/// the variable): `name:secret[:rate]` — `name` is who the key belongs to (it owns the jobs it
/// creates), `rate` an optional requests/second limit (token bucket, burst 2×rate) that
/// overrides `--rate-limit`. `#` starts a comment.
public struct APIKeys: Sendable {
    public struct Key: Sendable, Equatable {
        public var name: String
        /// Requests per second; nil: unlimited.
        public var rate: Double?
    }

    /// SHA-256 of the secret → key (secrets are compared by digest, in constant time per lookup).
    private let keys: [String: Key]

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }

    public init(parsing text: String, defaultRate: Double? = nil) throws {
        var keys: [String: Key] = [:]
        let entries = text.split(whereSeparator: { $0 == "\n" || $0 == "," })
        for (index, raw) in entries.enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.isEmpty { continue }
            let parts = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), ServiceName.isValid(parts[0]), parts[1].count >= 16 else {
                throw APIKeysError("entry \(index + 1): expected name:secret[:rate] with a name of letters, digits, '_' or '-' and a secret of at least 16 characters")
            }
            var rate = defaultRate
            if parts.count == 3 {
                guard let value = Double(parts[2]), value > 0 else { throw APIKeysError("entry \(index + 1): rate must be a positive number") }
                rate = value
            }
            keys[Self.digest(parts[1])] = Key(name: parts[0], rate: rate)
        }
        self.keys = keys
    }

    public static func load(file: String?, environment: String?, defaultRate: Double?) throws -> APIKeys? {
        var text = environment ?? ""
        if let file {
            guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else { throw APIKeysError("cannot read \(file)") }
            text += "\n" + contents
        }
        let keys = try APIKeys(parsing: text, defaultRate: defaultRate)
        return keys.isEmpty ? nil : keys
    }

    func key(for secret: String) -> Key? { keys[Self.digest(secret)] }

    private static func digest(_ secret: String) -> String {
        SHA256.hash(data: Array(secret.utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

public struct APIKeysError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Who is calling: the name of the API key, or `anonymous` when keys are off. Set for the
/// duration of a request by `AuthMiddleware`.
enum Caller {
    @TaskLocal static var name = "anonymous"
    /// True when API keys are on: jobs are then visible to their owner only.
    @TaskLocal static var isAuthenticated = false
}

/// Requires `Authorization: Bearer <key>` on `/v1/` routes when keys are configured (401
/// otherwise), and applies the key's rate limit (429 + `Retry-After`).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: APIKeys
    let limiter = RateLimiter()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        guard let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer "),
            let key = keys.key(for: String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        else {
            return .problem(.unauthorized, headers: [.wwwAuthenticate: #"Bearer realm="baton""#])
        }
        if let rate = key.rate, let wait = limiter.take(key.name, rate: rate) {
            let seconds = max(1, Int((Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18).rounded(.up)))
            return .problem(.rateLimited(key: key.name, rate: rate, retryAfter: seconds))
        }
        return try await Caller.$name.withValue(key.name) {
            try await Caller.$isAuthenticated.withValue(true) { try await next(request, context) }
        }
    }
}

/// Token buckets per key name: `rate` tokens a second, at most `2 × rate` saved up.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])

    /// Takes a token; returns nil when allowed, or how long until a token is there.
    func take(_ name: String, rate: Double, now: ContinuousClock.Instant = .now) -> Duration? {
        let burst = max(1, rate * 2)
        return buckets.withLock { buckets in
            var bucket = buckets[name] ?? Bucket(tokens: burst, updated: now)
            let elapsed = bucket.updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = now
            defer { buckets[name] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return .milliseconds(Int(((1 - bucket.tokens) / rate * 1000).rounded(.up)))
        }
    }
}
