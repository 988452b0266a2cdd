import CNats
import Foundation
import NIOCore

/// JetStream over a `NATSConnection`.
///
/// Stream and consumer administration goes through nats.c's `js_*` calls on the connection's
/// blocking pool (rare, start-up only). The hot path (publish with dedupe, KV, pull) speaks the
/// JetStream wire API through `NATSConnection.request`, so it never parks a thread.
public final class JetStream: Sendable {
    public let connection: NATSConnection
    private let context: JetStreamContext
    /// How long to wait for a JetStream API answer.
    public let timeout: Duration

    public init(_ connection: NATSConnection, timeout: Duration = .seconds(5)) throws {
        var js: OpaquePointer? = nil
        try check("natsConnection_JetStream", natsConnection_JetStream(&js, connection.handle.pointer, nil))
        self.connection = connection
        self.context = JetStreamContext(js!)
        self.timeout = timeout
    }

    // MARK: - Publish

    /// Publishes to a stream and waits for the stream's acknowledgement.
    ///
    /// - Parameters:
    ///   - messageID: sets `Nats-Msg-Id`; a repeat within the stream's duplicate window is not
    ///     stored again and comes back with `duplicate == true`.
    ///   - expectedLastSubjectSequence: optimistic concurrency (`0` means "subject must be empty");
    ///     a mismatch throws `.wrongLastSequence`.
    @discardableResult
    public func publish(
        _ payload: ByteBuffer, to subject: String, headers: NATSHeaders = [:],
        messageID: String? = nil, expectedLastSubjectSequence: UInt64? = nil
    ) async throws -> PublishAck {
        try await send(payload, to: subject, headers: headers, messageID: messageID, expectedLastSubjectSequence: expectedLastSubjectSequence).ack()
    }

    /// Publishes like `publish`, but returns at once: `SentPublish.ack()` awaits the stream's
    /// acknowledgement. Several publishes in flight from one task, without a child task each.
    public func send(
        _ payload: ByteBuffer, to subject: String, headers: NATSHeaders = [:],
        messageID: String? = nil, expectedLastSubjectSequence: UInt64? = nil
    ) throws -> SentPublish {
        var headers = headers
        if let messageID { headers["Nats-Msg-Id"] = messageID }
        if let expectedLastSubjectSequence { headers["Nats-Expected-Last-Subject-Sequence"] = String(expectedLastSubjectSequence) }
        return SentPublish(request: try connection.send(payload, to: subject, headers: headers, timeout: timeout))
    }

    // MARK: - Administration

    /// Creates the stream, or changes an existing one toward `spec` as far as that deletes no
    /// message (`StreamSpec.reconciled(with:)`): limits are only raised, subjects only added.
    /// What it does not change it logs as a warning and returns in `refused`. An existing stream
    /// that already has the configuration is not written at all.
    ///
    /// Safe to call from several processes at once: a create that loses the race (the server
    /// says the name or the subjects are taken) reads the stream and goes on from there. Two
    /// processes raising one limit to different values in the same instant race (the last
    /// write wins); neither ever writes a value below the one it read.
    @discardableResult
    public func ensureStream(_ spec: StreamSpec) async throws -> StreamOutcome {
        let js = context
        for attempt in 1...5 {
            do {
                if let current = try await streamSpec(named: spec.name) {
                    let (merged, refused) = spec.reconciled(with: current)
                    for change in refused {
                        connection.logger.warning(
                            "stream not changed in place", metadata: ["change": "\(change)", "stream": "\(change.stream)"])
                    }
                    let update = !merged.isEquivalent(to: current)
                    if update {
                        try await connection.blockingPool.runIfActive {
                            try merged.withCConfig { config in
                                var errorCode = jsErrCode(rawValue: 0)
                                let status = js_UpdateStream(nil, js.pointer, config, nil, &errorCode)
                                try check("update stream \(spec.name) (err_code \(errorCode.rawValue))", status)
                            }
                        }
                        connection.logger.info("stream updated", metadata: ["stream": "\(spec.name)"])
                    }
                    return StreamOutcome(spec: merged, created: false, updated: update, refused: refused)
                }
                try await connection.blockingPool.runIfActive {
                    try spec.withCConfig { config in
                        var errorCode = jsErrCode(rawValue: 0)
                        let status = js_AddStream(nil, js.pointer, config, nil, &errorCode)
                        try check("create stream \(spec.name) (err_code \(errorCode.rawValue))", status)
                    }
                }
                return StreamOutcome(spec: spec, created: true, updated: false, refused: [])
            } catch let error as NATSError where attempt < 5 {
                // Lost a create race, or JetStream is electing a leader: read again.
                connection.logger.debug("ensure stream retry", metadata: ["stream": "\(spec.name)", "error": "\(error.message)"])
                try await Task.sleep(for: .milliseconds(50 * attempt))
            }
        }
        preconditionFailure("unreachable: the last attempt returns or throws")
    }

    /// The configuration of a stream as the server reports it, or nil when there is none.
    public func streamSpec(named name: String) async throws -> StreamSpec? {
        try await withStreamInfo(name) { info in
            guard let config = info.Config?.pointee else {
                throw NATSError(.protocolViolation, "stream info \(name) without a configuration")
            }
            return StreamSpec(config)
        }
    }

    /// Reads a stream's info with nats.c (on the blocking pool) and hands it to `body`; nil when
    /// the stream does not exist.
    private func withStreamInfo<T: Sendable>(_ name: String, _ body: @escaping @Sendable (jsStreamInfo) throws -> T) async throws -> T? {
        let js = context
        return try await connection.blockingPool.runIfActive { () throws -> T? in
            var info: UnsafeMutablePointer<jsStreamInfo>? = nil
            var errorCode = jsErrCode(rawValue: 0)
            let status = js_GetStreamInfo(&info, js.pointer, name, nil, &errorCode)
            if status == NATS_NOT_FOUND { return nil }
            try check("stream info \(name)", status)
            defer { jsStreamInfo_Destroy(info) }
            guard let info else { throw NATSError(.protocolViolation, "stream info \(name) without an answer") }
            return try body(info.pointee)
        }
    }

    /// How many messages each subject matching `filter` holds in `stream` (a JetStream API
    /// request with `subjects_filter`; non-blocking). Subjects that hold none are absent.
    public func subjectCounts(in stream: String, matching filter: String) async throws -> [String: UInt64] {
        let request = ByteBuffer(string: #"{"subjects_filter":"\#(filter)"}"#)
        let reply = try await connection.request(request, to: "$JS.API.STREAM.INFO.\(stream)", timeout: timeout)
        let info = try JSONDecoder().decode(StreamInfoWire.self, from: Data(reply.payload.readableBytesView))
        if let error = info.error { throw error.natsError }
        return info.state?.subjects ?? [:]
    }

    /// Creates the durable consumer, or updates it when its configuration changed.
    public func ensureConsumer(_ spec: ConsumerSpec) async throws {
        let js = context
        try await connection.blockingPool.runIfActive {
            try spec.withCConfig { config in
                var errorCode = jsErrCode(rawValue: 0)
                var status = js_AddConsumer(nil, js.pointer, spec.stream, config, nil, &errorCode)
                if status != NATS_OK, errorCode.rawValue != 0 {
                    status = js_UpdateConsumer(nil, js.pointer, spec.stream, config, nil, &errorCode)
                }
                try check("ensure consumer \(spec.stream)/\(spec.durable) (err_code \(errorCode.rawValue))", status)
            }
        }
    }

    /// True when the stream exists.
    public func streamExists(_ name: String) async throws -> Bool {
        try await streamMessageCount(name) != nil
    }

    /// The number of messages a stream holds, or nil when it does not exist.
    public func streamMessageCount(_ name: String) async throws -> UInt64? {
        try await withStreamInfo(name) { $0.State.Msgs }
    }

    /// The first and last sequence a stream holds (`last` 0: it never held a message); nil
    /// when there is no such stream.
    public func streamSequences(_ name: String) async throws -> (first: UInt64, last: UInt64)? {
        try await withStreamInfo(name) { ($0.State.FirstSeq, $0.State.LastSeq) }
    }

    /// Deletes a stream (tests and tooling).
    public func deleteStream(_ name: String) async throws {
        let js = context
        try await connection.blockingPool.runIfActive {
            var errorCode = jsErrCode(rawValue: 0)
            let status = js_DeleteStream(js.pointer, name, nil, &errorCode)
            if status == NATS_NOT_FOUND { return }
            try check("delete stream \(name)", status)
        }
    }
}

/// A publish on its way to a stream (`JetStream.send`).
public struct SentPublish: Sendable {
    let request: SentRequest

    /// The stream's acknowledgement; throws what `JetStream.publish` throws.
    public func ack() async throws -> PublishAck {
        try await ack(within: request.timeout)
    }

    /// The stream's acknowledgement, waiting at most `limit` from now.
    public func ack(within limit: Duration) async throws -> PublishAck {
        let reply: Result<NATSMessage, NATSError>
        do {
            reply = .success(try await request.reply(within: limit))
        } catch let error as NATSError {
            reply = .failure(error)
        }
        return try acknowledgement(reply).get()
    }

    /// Calls `body` once with the acknowledgement, or the error `ack()` would throw, where the
    /// reply lands (`SentRequest.whenReplied`: nats.c's reading thread; keep it short).
    public func whenAcknowledged(_ body: @escaping @Sendable (Result<PublishAck, any Error>) -> Void) {
        request.whenReplied { [self] reply in body(acknowledgement(reply)) }
    }

    /// The acknowledgement a reply carries, or what a publish without one throws: no responders
    /// means no stream takes the subject.
    private func acknowledgement(_ reply: Result<NATSMessage, NATSError>) -> Result<PublishAck, any Error> {
        switch reply {
        case .success(let reply): Result { try PublishAck(parsing: reply.payload) }
        case .failure(let error) where error.kind == .noResponders:
            .failure(NATSError(.noResponders, "no JetStream stream takes subject \(request.subject)"))
        case .failure(let error): .failure(error)
        }
    }

    /// Makes a failed publish (refused, no stream, no acknowledgement within the timeout) end the
    /// wait on `replySubject` too: a task awaits a job's answer there and learns in the same
    /// wait that the job was not stored. An acknowledgement that stores the job wakes no one;
    /// take it with `ack(within:)`.
    public func endsWait(on replySubject: String) {
        request.endsWait(on: replySubject, when: PublishAck.isFailure)
    }

    /// How long the acknowledgement is waited for.
    public var timeout: Duration { request.timeout }

    /// Forgets the acknowledgement (the message may still be stored).
    public func discard() { request.discard() }
}

/// The stream's acknowledgement of a publish.
public struct PublishAck: Sendable, Equatable {
    public var stream: String
    public var sequence: UInt64
    /// The message id was seen before within the duplicate window; nothing new was stored.
    public var duplicate: Bool
}

struct JetStreamAPIError: Decodable {
    var code: Int
    var err_code: Int?
    var description: String?

    var natsError: NATSError {
        if err_code == NATSError.jsWrongLastSequence || err_code == NATSError.jsWrongLastSequenceInFlight {
            return NATSError(.wrongLastSequence, description ?? "wrong last sequence")
        }
        // A stream full under `discard: new`: the server says which limit only in the text.
        if err_code == NATSError.jsStreamStoreFailed, let description,
            ["maximum messages per subject exceeded", "maximum messages exceeded", "maximum bytes exceeded"].contains(description)
        {
            return NATSError(.streamFull, description)
        }
        return NATSError(.jetStream(code: code, errorCode: err_code ?? 0), description ?? "JetStream error \(code)")
    }
}

private struct StreamInfoWire: Decodable {
    struct State: Decodable { var subjects: [String: UInt64]? }
    var state: State?
    var error: JetStreamAPIError?
}

private struct PublishAckWire: Decodable {
    var stream: String?
    var seq: UInt64?
    var duplicate: Bool?
    var error: JetStreamAPIError?
}

extension PublishAck {
    /// True for a reply that does not acknowledge a stored message: no stream took the subject,
    /// the server refused it (an error), or anything else that `init(parsing:)` throws for.
    @Sendable static func isFailure(_ reply: NATSMessage) -> Bool {
        reply.isNoResponders || (try? PublishAck(parsing: reply.payload)) == nil
    }

    /// Parses the server's publish acknowledgement. Every durable job waits on several of
    /// these, so the common shape (`{"stream":"S","seq":N[,"duplicate":true]}`) is scanned
    /// directly, in the payload's own bytes; errors and anything unusual go through
    /// `JSONDecoder`.
    init(parsing payload: ByteBuffer) throws {
        let scanned: PublishAck? = payload.withUnsafeReadableBytes { bytes in
            guard bytes.find("\"error\"") == nil,
                let streamStart = bytes.find("\"stream\":\"").map({ $0 + #""stream":""#.utf8.count }),
                let streamEnd = bytes[streamStart...].firstIndex(of: UInt8(ascii: "\"")),
                let sequence = bytes.find("\"seq\":").flatMap({ bytes.integer(at: $0 + #""seq":"#.utf8.count) })
            else { return nil }
            // The server writes `"duplicate": true` (with a space) for a deduplicated publish.
            let duplicate = bytes.find("\"duplicate\": true") != nil || bytes.find("\"duplicate\":true") != nil
            return PublishAck(
                stream: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[streamStart..<streamEnd]), as: UTF8.self),
                sequence: sequence, duplicate: duplicate)
        }
        if let scanned {
            self = scanned
            return
        }
        let ack = try JSONDecoder().decode(PublishAckWire.self, from: Data(payload.readableBytesView))
        if let error = ack.error { throw error.natsError }
        guard let stream = ack.stream, let sequence = ack.seq else {
            throw NATSError(.protocolViolation, "unexpected publish ack: \(String(buffer: payload))")
        }
        self.init(stream: stream, sequence: sequence, duplicate: ack.duplicate ?? false)
    }
}

extension UnsafeRawBufferPointer {
    /// Where `needle` (ASCII) first occurs.
    fileprivate func find(_ needle: StaticString) -> Int? {
        guard let base = baseAddress, count >= needle.utf8CodeUnitCount else { return nil }
        return needle.withUTF8Buffer { needle in
            // memchr to each candidate first byte, memcmp the rest (memmem is a GNU extension
            // that Glibc's module map leaves out).
            let first = Int32(needle[0])
            var offset = 0
            while count - offset >= needle.count, let hit = memchr(base + offset, first, count - offset - needle.count + 1) {
                let at = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(base + at, needle.baseAddress!, needle.count) == 0 { return at }
                offset = at + 1
            }
            return nil
        }
    }

    /// The decimal digits at `offset`, if any.
    fileprivate func integer(at offset: Int) -> UInt64? {
        var value: UInt64 = 0
        var index = offset
        while index < count, self[index] >= 48, self[index] <= 57 {
            value = value &* 10 &+ UInt64(self[index] - 48)
            index += 1
        }
        return index > offset ? value : nil
    }
}

/// Owns a `jsCtx*`.
/// `@unchecked Sendable`: nats.c's JetStream context is immutable after creation and its calls
/// are safe from any thread; destroyed once in `deinit`.
final class JetStreamContext: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { jsCtx_Destroy(pointer) }
}
