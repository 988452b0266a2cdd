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
        let parsed = text.withUTF8 { bytes -> Parsed in
            guard let range = Self.validRange(of: bytes) else { return .invalid }
            // As it came when it is a version 00 one without spaces around: shared, not copied.
            if range == 0..<bytes.count, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0") { return .asItCame }
            let fields = UnsafeBufferPointer(rebasing: bytes[(range.lowerBound + 3)..<(range.lowerBound + Self.length)])
            return .rewritten("00-" + String(decoding: fields, as: UTF8.self))
        }
        switch parsed {
        case .invalid: return nil
        case .asItCame: self.traceparent = traceparent
        case .rewritten(let version00): self.traceparent = version00
        }
        self.tracestate = tracestate.flatMap { $0.isEmpty || $0.utf8.count > 512 ? nil : $0 }
    }

    private enum Parsed {
        case invalid, asItCame
        case rewritten(String)
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

    /// A new trace (sampled), for requests that come without one.
    public static func random() -> TraceContext {
        TraceContext(made: makeTraceparent(continuing: nil), tracestate: nil)
    }

    /// The same trace with a new span id: what a hop passes on as its own span.
    public func child() -> TraceContext {
        TraceContext(made: Self.makeTraceparent(continuing: traceparent), tracestate: tracestate)
    }

    private init(made traceparent: String, tracestate: String?) {
        self.traceparent = traceparent
        self.tracestate = tracestate
    }

    /// A version 00 `traceparent` with a random parent id: `parent`'s trace id and flags, or a
    /// random trace id, sampled, when `parent` is nil. One draw of random bytes, one string.
    private static func makeTraceparent(continuing parent: String?) -> String {
        var parent = parent
        return withUnsafeTemporaryAllocation(byteCount: 24, alignment: 1) { random in
            let drawn = parent == nil ? 24 : 8
            RandomBytes.fill(UnsafeMutableRawBufferPointer(rebasing: random[0..<drawn]))
            return String(unsafeUninitializedCapacity: length) { text in
                let digits: StaticString = "0123456789abcdef"
                digits.withUTF8Buffer { digits in
                    func put(_ bytes: UnsafeMutableRawBufferPointer.SubSequence, at offset: Int) {
                        for (i, byte) in bytes.enumerated() {
                            text[offset + 2 * i] = digits[Int(byte >> 4)]
                            text[offset + 2 * i + 1] = digits[Int(byte & 15)]
                        }
                    }
                    for (i, byte) in "00-".utf8.enumerated() { text[i] = byte }
                    put(random[0..<8], at: 36)
                    text[35] = UInt8(ascii: "-")
                    text[52] = UInt8(ascii: "-")
                    if parent == nil {
                        put(random[8..<24], at: 3)
                        text[53] = UInt8(ascii: "0")
                        text[54] = UInt8(ascii: "1")
                    } else {
                        parent!.withUTF8 { parent in
                            for i in 3..<35 { text[i] = parent[i] }
                            text[53] = parent[53]
                            text[54] = parent[54]
                        }
                    }
                }
                return length
            }
        }
    }

    private func field(_ range: Range<Int>) -> String {
        String(traceparent.utf8.dropFirst(range.lowerBound).prefix(range.count))!
    }
}
