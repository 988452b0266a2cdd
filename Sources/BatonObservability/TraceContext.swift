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

    /// Parses a `traceparent` (`00-<trace-id>-<parent-id>-<flags>`; a later version may add
    /// fields after the flags, each `-` and lowercase hex); nil when malformed or the all-zero
    /// ids the spec forbids. Byte by byte: every durable job's worker parses one.
    public init?(traceparent: String, tracestate: String? = nil) {
        var text = traceparent
        guard let (traceID, parentID, flags) = text.withUTF8({ Self.fields(of: $0) }) else { return nil }
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
        self.tracestate = tracestate.flatMap { $0.isEmpty || $0.utf8.count > 512 ? nil : $0 }
    }

    /// The trace id, parent id and flags of a valid `traceparent`, or nil.
    private static func fields(of bytes: UnsafeBufferPointer<UInt8>) -> (String, String, String)? {
        let space = UInt8(ascii: " "), dash = UInt8(ascii: "-")
        var start = 0, end = bytes.count
        while start < end, bytes[start] == space { start += 1 }
        while end > start, bytes[end - 1] == space { end -= 1 }
        let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
        func isHex(_ range: Range<Int>) -> Bool {
            text[range].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        func isZero(_ range: Range<Int>) -> Bool { text[range].allSatisfy { $0 == 0x30 } }
        guard text.count >= 55, text[2] == dash, text[35] == dash, text[52] == dash,
            isHex(0..<2), isHex(3..<35), isHex(36..<52), isHex(53..<55),
            !(text[0] == UInt8(ascii: "f") && text[1] == UInt8(ascii: "f")), !isZero(3..<35), !isZero(36..<52)
        else { return nil }
        if text.count > 55 {
            // Version 00 has exactly four fields; a later one may have more, each hex.
            guard !(text[0] == 0x30 && text[1] == 0x30), text[55] == dash,
                text[56...].allSatisfy({ $0 == dash || (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else { return nil }
        }
        func string(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: text[range]), as: UTF8.self) }
        return (string(3..<35), string(36..<52), string(53..<55))
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
