import BatonCore

/// A W3C Trace Context (`traceparent`, `tracestate`), carried from the HTTP request through the
/// NATS job headers to the worker's handler and into webhook deliveries.
///
/// Parsed here rather than with swift-w3c-trace-context (which swift-otel's propagator uses):
/// that one refuses a `traceparent` of a later version, which the spec says to read by its
/// first four fields, and drops the whole context when the `tracestate` does not parse, where
/// Baton passes the caller's `tracestate` on as it came. Its random ids also cost a
/// `getrandom` call per 8 bytes (see `RandomBytes`).
public struct TraceContext: Sendable, Equatable {
    public static let traceparentHeader = "traceparent"
    public static let tracestateHeader = "tracestate"

    /// 32 lowercase hex digits.
    public var traceID: String
    /// 16 lowercase hex digits: the span of the caller.
    public var parentID: String
    public var flags: String
    public var tracestate: String?

    /// Parses a `traceparent` (`00-<trace-id>-<parent-id>-<flags>`); nil when malformed or the
    /// all-zero ids the spec forbids.
    public init?(traceparent: String, tracestate: String? = nil) {
        let parts = traceparent.trimmingSpaces.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isLowercaseHex) }),
            parts[1] != Substring(String(repeating: "0", count: 32)), parts[2] != Substring(String(repeating: "0", count: 16))
        else { return nil }
        if parts[0] == "00", parts.count != 4 { return nil }
        traceID = String(parts[1])
        parentID = String(parts[2])
        flags = String(parts[3])
        self.tracestate = tracestate.flatMap { $0.isEmpty || $0.count > 512 ? nil : $0 }
    }

    /// A new trace (sampled), for requests that come without one.
    public static func random() -> TraceContext {
        let ids = randomHex(24)  // one draw for both ids
        return TraceContext(traceID: String(ids.prefix(32)), parentID: String(ids.suffix(16)), flags: "01", tracestate: nil)
    }

    private init(traceID: String, parentID: String, flags: String, tracestate: String?) {
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
        self.tracestate = tracestate
    }

    /// The same trace with a new span id: what a hop passes on as its own span.
    public func child() -> TraceContext {
        TraceContext(traceID: traceID, parentID: Self.randomHex(8), flags: flags, tracestate: tracestate)
    }

    public var traceparent: String { "00-\(traceID)-\(parentID)-\(flags)" }

    /// `bytes` random bytes as lowercase hex, from one `getrandom` call.
    private static func randomHex(_ bytes: Int) -> String { RandomBytes.hex(bytes) }
}

extension Character {
    fileprivate var isLowercaseHex: Bool { ("0"..."9").contains(self) || ("a"..."f").contains(self) }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: Substring {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
