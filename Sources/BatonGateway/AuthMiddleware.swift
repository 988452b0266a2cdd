import BatonCore
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// Who is calling: the name of the API key, or `anonymous` when keys are off. Set for the
/// duration of a request by `AuthMiddleware`.
enum Caller {
    @TaskLocal static var name = "anonymous"
    /// True when API keys are on: jobs are then visible to their owner only.
    @TaskLocal static var isAuthenticated = false
}

/// Requires `Authorization: Bearer <key>` on `/v1/` routes when keys are configured (401
/// otherwise), and applies the key's rate limit (429 + `Retry-After`). The caller is the key's
/// name, whichever of its secrets it sent: jobs and rate limits follow the name across a rotation.
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
