import BatonHTTPClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of one delivery attempt.
public struct WebhookResponse: Sendable, Equatable {
    /// The HTTP status, nil when no complete HTTP response arrived (connect error, timeout).
    public var status: Int?
    /// From Retry-After (seconds or HTTP date) on 429/503.
    public var retryAfter: Duration?
    /// The curl error text, or "HTTP 503" etc. for a non-2xx status; nil on success.
    public var error: String?
    /// How long the attempt took (the HTTP exchange, not the wait for a free connection).
    public var duration: Duration

    public init(status: Int?, retryAfter: Duration? = nil, error: String?, duration: Duration) {
        self.status = status
        self.retryAfter = retryAfter
        self.error = error
        self.duration = duration
    }

    /// A 2xx status.
    public var isSuccess: Bool { status.map { (200..<300).contains($0) } ?? false }

    /// A response for a request that never reached libcurl.
    static func failure(_ error: String) -> WebhookResponse {
        WebhookResponse(status: nil, error: error, duration: .zero)
    }
}

enum RetryAfter {
    /// A Retry-After value: delay-seconds ("120") or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"),
    /// as a delay from `now` (seconds since 1970), never negative. Nil when it parses as neither.
    static func parse(_ value: String, now: Int = Int(time(nil))) -> Duration? {
        let trimmed = value.trimmingWhitespace
        guard !trimmed.isEmpty else { return nil }
        if trimmed.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            // Absurdly long values are clamped rather than refused: they still mean "much later".
            return .seconds(Int(trimmed.prefix(12)) ?? 0)
        }
        guard let date = HTTPDate.secondsSince1970(trimmed) else { return nil }
        return .seconds(max(date - now, 0))
    }
}
