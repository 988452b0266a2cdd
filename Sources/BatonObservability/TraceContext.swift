import BatonCore

/// A W3C Trace Context (`traceparent`, `tracestate`), carried from the HTTP request through the
/// NATS job headers to the worker's handler and into webhook deliveries.
///
/// Parsed here rather than with swift-w3c-trace-context (which swift-otel's propagator uses):
/// that one refuses a `traceparent` of a later version, which the spec says to read by its
/// first four fields, and drops the whole context when the `tracestate` does not parse, where
/// Baton passes the caller's `tracestate` on as it came. Its random ids also cost a
/// `getrandom` call per 8 bytes (see `RandomBytes`).
///
/// Kept as the one `traceparent` string it is sent as, its fields read from it when asked:
/// every durable job carries one through the gateway and the worker, and three strings of
/// their own (the ids are too long to be stored inline) were ~5 of a gateway's ~70 heap
/// allocations per call and 2 of a worker's per job; a context taken from a header now shares
/// the header's string, and a new one is one allocation.
public struct TraceContext: Sendable, Equatable {
    public static let traceparentHeader = "traceparent"
    public static let tracestateHeader = "tracestate"

    /// `00-<trace-id>-<parent-id>-<flags>`: version 00, whatever version came (a later
    /// version's first four fields are read as version 00's).
    public let traceparent: String
    public var tracestate: String?

    /// 32 lowercase hex digits.
    public var traceID: String { field(3..<35) }
    /// 16 lowercase hex digits: the span of the caller.
    public var parentID: String { field(36..<52) }
    public var flags: String { field(53..<55) }

    private static let length = 55

    /// Parses a `traceparent` (`00-<trace-id>-<parent-id>-<flags>`; a later version may add
    /// fields after the flags, each `-` and lowercase hex); nil when malformed or the all-zero
    /// ids the spec forbids. Byte by byte: every durable job's worker parses one.
    public init?(traceparent: String, tracestate: String? = nil) {
        var text = traceparent
        guard let range = text.withUTF8({ Self.validRange(of: $0) }) else { return nil }
        // As it came when it is a version 00 one without spaces around: shared, not copied.
        let asItCame = range.count == traceparent.utf8.count && traceparent.hasPrefix("00-")
        self.traceparent = asItCame ? traceparent : "00-" + Self.utf8Slice(traceparent, (range.lowerBound + 3)..<(range.lowerBound + Self.length))
        self.tracestate = tracestate.flatMap { $0.isEmpty || $0.utf8.count > 512 ? nil : $0 }
    }

    /// Where a valid `traceparent` is in `bytes` (spaces around it trimmed), or nil.
    private static func validRange(of bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let space = UInt8(ascii: " "), dash = UInt8(ascii: "-")
        var start = 0, end = bytes.count
        while start < end, bytes[start] == space { start += 1 }
        while end > start, bytes[end - 1] == space { end -= 1 }
        let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
        func isHex(_ range: Range<Int>) -> Bool {
            text[range].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        func isZero(_ range: Range<Int>) -> Bool { text[range].allSatisfy { $0 == 0x30 } }
        guard text.count >= length, text[2] == dash, text[35] == dash, text[52] == dash,
            isHex(0..<2), isHex(3..<35), isHex(36..<52), isHex(53..<55),
            !(text[0] == UInt8(ascii: "f") && text[1] == UInt8(ascii: "f")), !isZero(3..<35), !isZero(36..<52)
        else { return nil }
        if text.count > length {
            // Version 00 has exactly four fields; a later one may have more, each hex.
            guard !(text[0] == 0x30 && text[1] == 0x30), text[55] == dash,
                text[56...].allSatisfy({ $0 == dash || (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else { return nil }
        }
        return start..<end
    }

    /// A new trace, for requests that come without one: `sampled` (flags `01`) only when the
    /// process records spans of it, as W3C Trace Context defines the flag ("the caller may have
    /// recorded trace data"), else `00`.
    ///
    /// Not sampled unless recorded, because the flag costs the messages that carry it: a
    /// nats-server of 2.11 or later (message tracing) reads every message whose `traceparent`
    /// is sampled as a trace to follow, copying all its headers into a map and looking up the
    /// account's trace destination — 2.3 µs of the server's CPU a message against 1.1 µs with
    /// flags `00`, measured on 2.15.1 (`bench/NOTES.md`). Every job Baton sends carries one.
    public static func random(sampled: Bool) -> TraceContext {
        TraceContext(made: makeTraceparent(over: sampled ? sampledTrace : unsampledTrace, newTrace: true), tracestate: nil)
    }

    /// The same trace with a new span id: what a hop passes on as its own span.
    public func child() -> TraceContext {
        TraceContext(made: Self.makeTraceparent(over: traceparent, newTrace: false), tracestate: tracestate)
    }

    private init(made traceparent: String, tracestate: String?) {
        self.traceparent = traceparent
        self.tracestate = tracestate
    }

    /// A version 00 `traceparent` with a random parent id over `template`'s version, trace id,
    /// dashes and flags (the parent's, or a new trace's zeros), and a random trace id too for
    /// a `newTrace`. One draw of random bytes, one string.
    private static func makeTraceparent(over template: String, newTrace: Bool) -> String {
        var random: (parentID: UInt64, traceID: (UInt64, UInt64)) = (0, (0, 0))
        return withUnsafeMutableBytes(of: &random) { random in
            RandomBytes.fill(newTrace ? random : UnsafeMutableRawBufferPointer(rebasing: random[0..<8]))
            return String(unsafeUninitializedCapacity: length) { text in
                _ = text.initialize(from: template.utf8)
                RandomBytes.writeHex(of: UnsafeRawBufferPointer(rebasing: random[0..<8]), into: text, at: 36)
                if newTrace { RandomBytes.writeHex(of: UnsafeRawBufferPointer(rebasing: random[8..<24]), into: text, at: 3) }
                return length
            }
        }
    }

    /// A new trace's version, zero ids and dashes, before its flags.
    private static let newTrace = "00-" + String(repeating: "0", count: 32) + "-" + String(repeating: "0", count: 16) + "-"
    private static let sampledTrace = newTrace + "01"
    private static let unsampledTrace = newTrace + "00"

    private func field(_ range: Range<Int>) -> String { Self.utf8Slice(traceparent, range) }

    private static func utf8Slice(_ text: String, _ range: Range<Int>) -> String {
        String(text.utf8.dropFirst(range.lowerBound).prefix(range.count))!
    }
}
