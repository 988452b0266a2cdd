import Foundation
import NIOCore

/// A JetStream key-value bucket, laid out exactly as other NATS clients expect (stream
/// `KV_<bucket>`, subjects `$KV.<bucket>.<key>`), so `nats kv` and nats-py read it too.
///
/// Reads use the stream's direct-get API; writes are JetStream publishes, with
/// `Nats-Expected-Last-Subject-Sequence` for create-only and compare-and-set updates. Entries
/// may carry headers (other clients see the value only).
public struct KeyValueBucket: Sendable {
    public let name: String
    public let jetStream: JetStream
    let streamName: String
    let subjectPrefix: String

    /// Opens a bucket without checking that it exists.
    public init(_ name: String, jetStream: JetStream) {
        self.name = name
        self.jetStream = jetStream
        self.streamName = "KV_\(name)"
        self.subjectPrefix = "$KV.\(name)."
    }

    /// Creates (or updates) the bucket. `ttl` is how long a key lives after its last write.
    public static func ensure(
        _ name: String, jetStream: JetStream, ttl: Duration? = nil, replicas: Int = 1,
        maxValueSize: Int32 = -1, memoryStorage: Bool = false
    ) async throws -> KeyValueBucket {
        var spec = StreamSpec(name: "KV_\(name)", subjects: ["$KV.\(name).>"])
        spec.maxMessagesPerSubject = 1
        spec.maxAge = ttl
        spec.maxMessageSize = maxValueSize
        spec.discardNew = true
        spec.allowRollup = true
        spec.denyDelete = true
        spec.allowDirect = true
        spec.replicas = replicas
        spec.memoryStorage = memoryStorage
        try await jetStream.ensureStream(spec)
        return KeyValueBucket(name, jetStream: jetStream)
    }

    /// The latest entry for `key`, or nil when there is none (or it was deleted).
    public func get(_ key: String) async throws -> KeyValueEntry? {
        let reply = try await jetStream.connection.request(
            ByteBuffer(), to: "$JS.API.DIRECT.GET.\(streamName).\(subjectPrefix)\(key)",
            timeout: jetStream.timeout
        )
        if let status = reply.status {
            if status == 404 { return nil }
            throw NATSError(.jetStream(code: status, errorCode: 0), "get \(name)/\(key): \(reply.statusDescription ?? "status \(status)")")
        }
        guard let revision = reply.headers["Nats-Sequence"].flatMap(UInt64.init) else {
            throw NATSError(.protocolViolation, "direct get \(name)/\(key) without Nats-Sequence")
        }
        return Self.entry(key, value: reply.payload, stored: reply.headers, revision: revision)
    }

    /// An entry as stored (nil when it is a delete or purge marker), without the headers the
    /// server and the writes added (`Nats-*`).
    static func entry(_ key: String, value: ByteBuffer, stored headers: NATSHeaders, revision: UInt64) -> KeyValueEntry? {
        if let operation = headers["KV-Operation"], operation == "DEL" || operation == "PURGE" { return nil }
        var headers = headers
        for name in ["Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp", "Nats-Expected-Last-Subject-Sequence", "Nats-Msg-Id"] {
            headers[name] = nil
        }
        return KeyValueEntry(key: key, value: value, headers: headers, revision: revision)
    }

    /// The latest entry for `key` as the stream's leader has it: a JetStream API request
    /// (`STREAM.MSG.GET`), where `get` is a direct get that any replica may serve, one that lags
    /// included. For the few decisions a stale read would get wrong; nil when there is none.
    public func getFromLeader(_ key: String) async throws -> KeyValueEntry? {
        let request = ByteBuffer(string: #"{"last_by_subj":"\#(subjectPrefix)\#(key)"}"#)
        let reply = try await jetStream.connection.request(request, to: "$JS.API.STREAM.MSG.GET.\(streamName)", timeout: jetStream.timeout)
        let answer = try JSONDecoder().decode(MessageGetWire.self, from: Data(reply.payload.readableBytesView))
        if let error = answer.error {
            if error.err_code == 10037 { return nil }  // no message found
            throw error.natsError
        }
        guard let message = answer.message else { throw NATSError(.protocolViolation, "stream message get \(name)/\(key) without a message") }
        let headers = message.hdrs.flatMap { Data(base64Encoded: $0) }.map { NATSHeaders(headerBlock: String(decoding: $0, as: UTF8.self)) } ?? [:]
        let value = message.data.flatMap { Data(base64Encoded: $0) }.map { ByteBuffer(bytes: $0) } ?? ByteBuffer()
        return Self.entry(key, value: value, stored: headers, revision: message.seq)
    }

    private struct MessageGetWire: Decodable {
        struct Message: Decodable {
            var seq: UInt64
            var hdrs: String?
            var data: String?
        }
        var message: Message?
        var error: JetStreamAPIError?
    }

    /// Writes `value` whatever is there; returns the new revision.
    @discardableResult
    public func put(_ key: String, _ value: ByteBuffer, headers: NATSHeaders = [:]) async throws -> UInt64 {
        try await jetStream.publish(value, to: subjectPrefix + key, headers: headers).sequence
    }

    /// Writes `value` only if `key` has no value yet; throws `.wrongLastSequence` if it has.
    @discardableResult
    public func create(_ key: String, _ value: ByteBuffer, headers: NATSHeaders = [:]) async throws -> UInt64 {
        try await update(key, value, headers: headers, revision: 0)
    }

    /// Sends a create (`create`) and returns at once; its acknowledgement's sequence is the
    /// revision, and a key that has a value fails it with `.wrongLastSequence`.
    public func sendCreate(_ key: String, _ value: ByteBuffer, headers: NATSHeaders = [:]) throws -> SentPublish {
        try jetStream.send(value, to: subjectPrefix + key, headers: headers, expectedLastSubjectSequence: 0)
    }

    /// Writes `value` only if the latest revision of `key` is `revision`; throws
    /// `.wrongLastSequence` if another write came first.
    @discardableResult
    public func update(_ key: String, _ value: ByteBuffer, headers: NATSHeaders = [:], revision: UInt64) async throws -> UInt64 {
        try await jetStream.publish(value, to: subjectPrefix + key, headers: headers, expectedLastSubjectSequence: revision).sequence
    }
}

/// One value of a key-value bucket.
public struct KeyValueEntry: Sendable {
    public var key: String
    public var value: ByteBuffer
    public var headers: NATSHeaders
    /// The stream sequence of this write: pass it to `update` for compare-and-set.
    public var revision: UInt64
}

/// A message read back from a stream.
public struct StoredMessage: Sendable {
    public var subject: String
    public var sequence: UInt64
    /// When the server stored it (RFC 3339, as the server wrote it).
    public var storedAt: String?
    public var headers: NATSHeaders
    public var payload: ByteBuffer
}

extension JetStream {
    /// The first message at or after `sequence` whose subject matches `subject` (wildcards
    /// allowed), read with the stream's direct-get API (the stream needs `allowDirect`); nil when
    /// there is none.
    public func firstMessage(in stream: String, matching subject: String, from sequence: UInt64) async throws -> StoredMessage? {
        try await directGet(stream, ByteBuffer(string: #"{"seq":\#(sequence),"next_by_subj":"\#(subject)"}"#))
    }

    /// The message stored at `sequence` (direct get); nil when there is none (never stored,
    /// deleted, or superseded in a bucket that keeps one revision per key).
    public func message(in stream: String, at sequence: UInt64) async throws -> StoredMessage? {
        try await directGet(stream, ByteBuffer(string: #"{"seq":\#(sequence)}"#))
    }

    private func directGet(_ stream: String, _ request: ByteBuffer) async throws -> StoredMessage? {
        let reply = try await connection.request(request, to: "$JS.API.DIRECT.GET.\(stream)", timeout: timeout)
        if let status = reply.status {
            if status == 404 { return nil }
            throw NATSError(.jetStream(code: status, errorCode: 0), "direct get \(stream): \(reply.statusDescription ?? "status \(status)")")
        }
        guard let found = reply.headers["Nats-Sequence"].flatMap(UInt64.init) else {
            throw NATSError(.protocolViolation, "direct get \(stream) without Nats-Sequence")
        }
        var headers = reply.headers
        let subject = headers["Nats-Subject"] ?? ""
        let storedAt = headers["Nats-Time-Stamp"]
        for name in ["Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp"] { headers[name] = nil }
        return StoredMessage(subject: subject, sequence: found, storedAt: storedAt, headers: headers, payload: reply.payload)
    }
}
