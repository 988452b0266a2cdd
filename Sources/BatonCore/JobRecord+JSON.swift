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
            writer.key("links")
            var inner = JSONObjectWriter(into: writer.buffer)
            inner.field("result", links + "/result")
            inner.field("self", links)
            writer.buffer = inner.finish()
        }
        writer.field("owner", owner)
        writer.field("priority", priority?.rawValue)
        if let progress {
            writer.key("progress")
            var inner = JSONObjectWriter(into: writer.buffer)
            inner.field("message", progress.message)
            inner.field("percent", progress.percent)
            writer.buffer = inner.finish()
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
            writer.key("webhook")
            var inner = JSONObjectWriter(into: writer.buffer)
            inner.field("attempts", webhook.attempts)
            inner.field("deliveredAt", webhook.deliveredAt)
            inner.field("holdUntil", webhook.holdUntil)
            inner.field("lastError", webhook.lastError)
            inner.field("state", webhook.state.rawValue)
            inner.field("url", webhook.url)
            writer.buffer = inner.finish()
        }
        writer.field("worker", worker)
        return writer.finish()
    }
}

/// Writes one JSON object, fields in the order given (the caller sorts them); nil fields are
/// left out, as `JSONEncoder` leaves out nil optionals.
struct JSONObjectWriter {
    var buffer: ByteBuffer
    private var first = true

    init(capacity: Int) {
        buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
        buffer.writeInteger(UInt8(ascii: "{"))
    }

    init(into buffer: ByteBuffer) {
        self.buffer = buffer
        self.buffer.writeInteger(UInt8(ascii: "{"))
    }

    mutating func finish() -> ByteBuffer {
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }

    mutating func key(_ key: StaticString) {
        if !first { buffer.writeInteger(UInt8(ascii: ",")) }
        first = false
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(key)
        buffer.writeStaticString("\":")
    }

    mutating func field(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        buffer.writeJSONString(value)
    }

    mutating func field(_ name: StaticString, _ value: (some BinaryInteger)?) {
        guard let value else { return }
        key(name)
        buffer.writeString(String(value))
    }

    mutating func field(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        key(name)
        buffer.writeStaticString(value ? "true" : "false")
    }

    mutating func field(_ name: StaticString, _ value: Timestamp?) {
        guard let value else { return }
        key(name)
        buffer.writeJSONString(value.description)
    }

    /// As `JSONEncoder` writes a `Double`: integral values without a fraction (`50`, not `50.0`).
    mutating func field(_ name: StaticString, _ value: Double?) {
        guard let value, value.isFinite else { return }
        key(name)
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        buffer.writeString(text)
    }
}

extension ByteBuffer {
    /// A JSON string literal: `"`, `\` and control characters escaped, `/` and non-ASCII as
    /// they are (as `JSONEncoder` with `.withoutEscapingSlashes`).
    mutating func writeJSONString(_ value: String) {
        writeInteger(UInt8(ascii: "\""))
        let utf8 = value.utf8
        // Most strings (ids, subjects, timestamps, URLs) need no escape: one copy.
        if utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            writeString(value)
        } else {
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): writeStaticString("\\\"")
                case UInt8(ascii: "\\"): writeStaticString("\\\\")
                case 0x08: writeStaticString("\\b")
                case 0x0C: writeStaticString("\\f")
                case 0x0A: writeStaticString("\\n")
                case 0x0D: writeStaticString("\\r")
                case 0x09: writeStaticString("\\t")
                case 0..<0x20:
                    writeStaticString("\\u00")
                    writeInteger(Self.hexDigit(byte >> 4))
                    writeInteger(Self.hexDigit(byte & 0x0F))
                default: writeInteger(byte)
                }
            }
        }
        writeInteger(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
