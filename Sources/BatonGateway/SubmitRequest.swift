import BatonCore
import BatonObservability
import BatonWebhooks
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The headers of `POST /v1/jobs/{service}` beyond the body: `Prefer`, `Baton-Deadline`,
/// `Callback-Url` and `Idempotency-Key`, checked before anything is recorded.
struct SubmitRequest: Sendable {
    var wait: Duration
    /// What goes into `Preference-Applied`.
    var applied: String?
    var deadline: Timestamp?
    var callbackURL: String?
    var idempotencyKey: String?
    var priority: Priority = .normal

    init(headers: SubmitHeaders, configuration: GatewayConfiguration) throws {
        let preferences = Preferences(headerValues: headers.prefer)
        if preferences.respondAsync {
            wait = .zero
            applied = "respond-async"
        } else if let seconds = preferences.wait {
            wait = min(.seconds(seconds), configuration.maxWait)
            applied = "wait=\(wait.components.seconds)"
        } else {
            wait = configuration.defaultWait
        }

        // `Prefer: priority=…` (Baton's own preference) or `Baton-Priority`; the header wins.
        if let value = headers.priority {
            guard let priority = Priority(rawValue: value.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw Problem.badRequest("Baton-Priority must be high, normal or low.")
            }
            self.priority = priority
        } else if let priority = preferences.priority {
            self.priority = priority
            applied = [applied, "priority=\(priority.rawValue)"].compactMap { $0 }.joined(separator: ", ")
        }

        if let value = headers.deadline {
            guard let deadline = Self.parseDeadline(value) else {
                throw Problem.badRequest("Baton-Deadline must be an RFC 3339 UTC time (2026-01-02T03:04:05Z) or a number of seconds from now.")
            }
            // A deadline that has passed would only turn into an expired job: refuse it here.
            guard deadline > .now else {
                throw Problem.badRequest("Baton-Deadline \(value) is not in the future.")
            }
            self.deadline = deadline
        } else if let ttl = configuration.jobTTL {
            deadline = Timestamp.now.adding(ttl)
        }

        if let url = headers.callbackURL {
            // Every gateway of a deployment shares the secret; `enabled` only says whether this
            // one takes part in the deliveries.
            guard configuration.webhooks.secret != nil else {
                throw Problem.webhooksDisabled
            }
            do {
                _ = try configuration.webhooks.policy.checkSyntax(url)
            } catch let error as WebhookError {
                throw Problem.invalidCallbackURL(error.description)
            }
            callbackURL = url
        }

        if let key = headers.idempotencyKey {
            guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw Problem.badRequest("Idempotency-Key must be 1-255 printable ASCII characters.")
            }
            idempotencyKey = key
        }
    }

    /// RFC 3339 (UTC) or delta-seconds.
    static func parseDeadline(_ value: String) -> Timestamp? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds > 0, seconds < 10 * 365 * 86_400 { return Timestamp.now.adding(.seconds(seconds)) }
        return Timestamp(rfc3339: trimmed)
    }
}

/// The request header fields a submit reads, taken in one pass over the request's fields.
///
/// Each `HTTPFields` lookup by name scans every field and builds its value anew (joining
/// repeated fields); a submit looked up nine names that way, ~2% of the gateway's CPU on the
/// fast lane (perf). Repeated fields join with ", " as `HTTPFields`' subscript joins them;
/// `Prefer` keeps each field's value (`Preferences` parses them all).
struct SubmitHeaders: Sendable {
    var contentLength: String?
    var contentType: String?
    var prefer: [String] = []
    var priority: String?
    var deadline: String?
    var callbackURL: String?
    var idempotencyKey: String?
    var traceparent: String?
    var tracestate: String?

    init(_ fields: HTTPFields) {
        for field in fields {
            let value = field.value
            // Canonical names are lowercase; these are all small strings (at most 15 bytes),
            // which compare without touching the heap.
            switch field.name.canonicalName {
            case "content-length": Self.add(value, to: &contentLength)
            case "content-type": Self.add(value, to: &contentType)
            case "prefer": prefer.append(value)
            case "baton-priority": Self.add(value, to: &priority)
            case "baton-deadline": Self.add(value, to: &deadline)
            case "callback-url": Self.add(value, to: &callbackURL)
            case "idempotency-key": Self.add(value, to: &idempotencyKey)
            case "traceparent": Self.add(value, to: &traceparent)
            case "tracestate": Self.add(value, to: &tracestate)
            default: continue
            }
        }
    }

    /// The caller's trace context, if it sent a valid one.
    var incomingTrace: TraceContext? {
        traceparent.flatMap { TraceContext(traceparent: $0, tracestate: tracestate) }
    }

    private static func add(_ value: String, to slot: inout String?) {
        slot = slot.map { $0 + ", " + value } ?? value
    }
}

/// Digests for idempotency claims.
enum Idempotency {
    /// The KV key of a caller's idempotency key (hex SHA-256: any key text is KV-safe).
    static func storageKey(caller: String, key: String) -> String {
        hex(SHA256.hash(data: Array("\(caller)\n\(key)".utf8)))
    }

    /// What a request asked: the service, the content type and the body.
    static func fingerprint(service: String, contentType: String?, body: ByteBuffer) -> String {
        var hash = SHA256()
        hash.update(data: Array("\(service)\n\(contentType ?? "")\n".utf8))
        body.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
        return hex(hash.finalize())
    }

    private static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { byte in
            let s = String(byte, radix: 16)
            return byte < 16 ? "0" + s : s
        }.joined()
    }
}

extension HTTPField.Name {
    static let batonDeadline = Self("Baton-Deadline")!
    static let callbackURL = Self("Callback-Url")!
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
    static let batonPriority = Self("Baton-Priority")!
    static let traceparent = Self("traceparent")!
    static let tracestate = Self("tracestate")!
}
