import NIOCore

/// `JobRecord`'s JSON, written by hand: the same bytes as `JSON.encode(record)` (sorted keys,
/// unescaped slashes), for a fraction of the cost.
///
/// A record is encoded on every submit (the KV entry, and the `202`'s status document) and on
/// every state change. Foundation's `JSONEncoder` goes through generic containers and boxes
/// every field; under `respond-async` load it took ~15% of the gateway's CPU. Decoding still
/// uses `JSONDecoder` (`JSON.decode`), as does every other type. `JobRecordJSONTests` checks
/// these bytes against `JSONEncoder`'s for records with every field set, none, and strings that
/// need escaping: a field added to `JobRecord` must be added here too, and the test says so.
extension JobRecord {
    /// The record as JSON; with `links`, the status document of `GET /v1/jobs/{id}` (the record
    /// plus `"links": {"self": links, "result": links + "/result"}`).
    public func json(links: String? = nil) -> ByteBuffer {
        var writer = JSONObjectWriter(capacity: 384)
        writer.field("attempts", attempts)
        writer.field("createdAt", createdAt)
        writer.field("deadline", deadline)
        writer.field("error", error)
        writer.field("finishedAt", finishedAt)
        writer.field("id", id)
        writer.field("lane", lane.rawValue)
        if let links {
            writer.object("links") { inner in
                inner.field("result", links, "/result")
                inner.field("self", links)
            }
        }
        writer.field("owner", owner)
        writer.field("priority", priority?.rawValue)
        if let progress {
            writer.object("progress") { inner in
                inner.field("message", progress.message)
                inner.field("percent", progress.percent)
            }
        }
        writer.field("publishing", publishing)
        writer.field("queueSequence", queueSequence)
        writer.field("queuedAs", queuedAs)
        writer.field("replayOf", replayOf)
        writer.field("service", service)
        writer.field("startedAt", startedAt)
        writer.field("state", state.rawValue)
        writer.field("status", status)
        writer.field("traceparent", traceparent)
        writer.field("updatedAt", updatedAt)
        if let webhook {
            writer.object("webhook") { inner in
                inner.field("attempts", webhook.attempts)
                inner.field("deliveredAt", webhook.deliveredAt)
                inner.field("holdUntil", webhook.holdUntil)
                inner.field("lastError", webhook.lastError)
                inner.field("state", webhook.state.rawValue)
                inner.field("url", webhook.url)
            }
        }
        writer.field("worker", worker)
        return ByteBuffer(bytes: writer.finish())
    }
}

/// Writes one JSON object, fields in the order given (the caller sorts them); nil fields are
/// left out, as `JSONEncoder` leaves out nil optionals.
///
/// Into a byte array, copied into a `ByteBuffer` once at the end: a `ByteBuffer` write checks
/// capacity and uniqueness through a call each time, and a record is some hundred writes
/// (2–3 µs a record that way, ~0.5 µs this way; bench/NOTES.md).
struct JSONObjectWriter {
    private var bytes: [UInt8]
    private var first = true

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Continues `bytes` (taking them, so that they stay uniquely referenced) with a nested object.
    private init(continuing bytes: inout [UInt8]) {
        self.bytes = []
        swap(&self.bytes, &bytes)
        self.bytes.append(UInt8(ascii: "{"))
    }

    mutating func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// A field whose value is an object, written by `fields`.
    mutating func object(_ name: StaticString, _ fields: (inout JSONObjectWriter) -> Void) {
        key(name)
        var inner = JSONObjectWriter(continuing: &bytes)
        fields(&inner)
        bytes = inner.finish()
    }

    private mutating func key(_ key: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A string field; `suffix` is written as part of the value (`links` + `"/result"`).
    mutating func field(_ name: StaticString, _ value: String?, _ suffix: StaticString = "") {
        guard let value else { return }
        key(name)
        bytes.append(UInt8(ascii: "\""))
        appendEscaped(value)
        suffix.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func field(_ name: StaticString, _ value: (some BinaryInteger)?) {
        guard let value else { return }
        key(name)
        if value >= 0, let unsigned = UInt64(exactly: value) {
            appendDecimal(unsigned)
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    mutating func field(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        key(name)
        let text: StaticString = value ? "true" : "false"
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func field(_ name: StaticString, _ value: Timestamp?) {
        guard let value else { return }
        key(name)
        bytes.append(UInt8(ascii: "\""))
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.textLength) { text in
            bytes.append(contentsOf: text[..<value.write(into: text)])
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// As `JSONEncoder` writes a `Double`: integral values without a fraction (`50`, not `50.0`).
    mutating func field(_ name: StaticString, _ value: Double?) {
        guard let value, value.isFinite else { return }
        key(name)
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func appendDecimal(_ value: UInt64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var value = value
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            } while value > 0
            bytes.append(contentsOf: digits[start...])
        }
    }

    /// A JSON string's contents: `"`, `\` and control characters escaped, `/` and non-ASCII as
    /// they are (as `JSONEncoder` with `.withoutEscapingSlashes`).
    private mutating func appendEscaped(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            // Most strings (ids, subjects, URLs) need no escape: one copy.
            guard utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                return bytes.append(contentsOf: utf8)
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), byte])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [byte, byte])
                case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0..<0x20:
                    bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    bytes.append(Self.hexDigit(byte >> 4))
                    bytes.append(Self.hexDigit(byte & 0x0F))
                default: bytes.append(byte)
                }
            }
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
