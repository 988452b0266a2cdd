import CNats
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Message headers: an ordered list of name/value pairs, names compared case-insensitively on
/// lookup (nats.c 3.x keeps keys case-sensitive on the wire, so we keep them as given).
public struct NATSHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public internal(set) var fields: [(name: String, value: String)]

    public init() { fields = [] }

    /// No fields yet, room for `capacity` without growing.
    public init(minimumCapacity capacity: Int) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { fields.isEmpty }

    /// True when a field has a value: a field with an empty one is never sent.
    var hasValues: Bool { fields.contains { !$0.value.isEmpty } }

    /// Reads a header block as NATS writes it (`NATS/1.0\r\nName: value\r\n…\r\n\r\n`, as in
    /// a stored message's `hdrs`), by nats.c's rules (`HeaderBlock`); a block nats.c would
    /// refuse reads as no fields.
    public init(headerBlock: String) {
        var text = headerBlock
        self = text.withUTF8 { HeaderBlock.parse(UnsafeRawBufferPointer($0)) } ?? NATSHeaders()
    }

    /// The first value for `name` (case-insensitive), if any.
    public subscript(name: String) -> String? {
        get {
            for field in fields where field.name.caseInsensitiveEquals(name) { return field.value }
            return nil
        }
        set {
            fields.removeAll { $0.name.caseInsensitiveEquals(name) }
            if let newValue { fields.append((name: name, value: newValue)) }
        }
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Adds the field if there is a value (unlike the subscript, without looking for one of
    /// that name first).
    public mutating func add(_ name: String, _ value: String?) {
        if let value { fields.append((name: name, value: value)) }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public static func == (lhs: NATSHeaders, rhs: NATSHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension String {
    /// ASCII case-insensitive comparison (header names are ASCII tokens). Most comparisons are
    /// of two different names of the same length (a look-up passing the other fields), so the
    /// bytes are compared in one loop over contiguous storage (native strings), which stops at
    /// the first difference.
    func caseInsensitiveEquals(_ other: String) -> Bool {
        @inline(__always) func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c | 0x20 : c }
        guard self.utf8.count == other.utf8.count else { return false }
        let compared = self.utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in
                for i in a.indices where a[i] != b[i] && lower(a[i]) != lower(b[i]) { return false }
                return true
            }
        }
        if let compared = compared ?? nil { return compared }  // nil: a string without contiguous UTF-8
        return zip(self.utf8, other.utf8).allSatisfy { lower($0) == lower($1) }
    }
}

/// A message as Swift owns it: copied out of nats.c, so the C message can be destroyed at once.
public struct NATSMessage: Sendable {
    public var subject: String
    public var replyTo: String?
    public var headers: NATSHeaders
    public var payload: ByteBuffer

    public init(subject: String, replyTo: String? = nil, headers: NATSHeaders = [:], payload: ByteBuffer = ByteBuffer()) {
        self.subject = subject
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// The status of a server-generated status message ("NATS/1.0 503" → 503), if this is one.
    public var status: Int? { headers["Status"].flatMap { Int($0.prefix(3)) } }

    /// The description of a status message ("No Messages", "Request Timeout"), if any.
    public var statusDescription: String? { headers["Description"] }

    /// True for the server's "no responders" answer to a request.
    public var isNoResponders: Bool { status == 503 && payload.readableBytes == 0 }

    /// The payload as a UTF-8 string (for logs and tests).
    public var string: String { String(buffer: payload) }
}

extension NATSMessage {
    /// Copies a nats.c message into Swift values. Does not destroy `msg`.
    init(copying msg: OpaquePointer) {
        let subject = natsMsg_GetSubject(msg).map { String(cString: $0) } ?? ""
        let reply = natsMsg_GetReply(msg).flatMap { $0.pointee == 0 ? nil : String(cString: $0) }
        let length = Int(natsMsg_GetDataLength(msg))
        var payload = ByteBufferAllocator().buffer(capacity: length)
        if length > 0, let data = natsMsg_GetData(msg) {
            payload.writeBytes(UnsafeRawBufferPointer(start: data, count: length))
        }
        self.init(subject: subject, replyTo: reply, headers: Self.headers(of: msg), payload: payload)
    }

    /// The fields of a received message's header block, read by `HeaderBlock` where the block
    /// can be had as it came (`CNats/shim.h`), else through nats.c's header calls.
    private static func headers(of msg: OpaquePointer) -> NATSHeaders {
        var length: Int32 = 0
        if NATSMessage.headerBlockSupported, let block = baton_natsMsg_headerBlock(msg, &length) {
            if length == 0 { return NATSHeaders() }
            if let headers = HeaderBlock.parse(UnsafeRawBufferPointer(start: block, count: Int(length))) { return headers }
        }
        return headersFieldByField(of: msg)
    }

    static func headersFieldByField(of msg: OpaquePointer) -> NATSHeaders {
        var headers = NATSHeaders()
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>? = nil
        var keyCount: Int32 = 0
        if natsMsgHeader_Keys(msg, &keys, &keyCount) == NATS_OK, let keys {
            for i in 0..<Int(keyCount) {
                guard let key = keys[i] else { continue }
                var values: UnsafeMutablePointer<UnsafePointer<CChar>?>? = nil
                var valueCount: Int32 = 0
                if natsMsgHeader_Values(msg, key, &values, &valueCount) == NATS_OK, let values {
                    let name = String(cString: key)
                    for j in 0..<Int(valueCount) {
                        headers.add(name, values[j].map { String(cString: $0) } ?? "")
                    }
                    free(values)
                }
            }
            free(keys)
        }
        return headers
    }

    /// Builds a nats.c message for publishing. The caller destroys it.
    func makeCMessage() throws -> OpaquePointer {
        if payload.readableBytes <= Self.headerBlockPayloadLimit, Self.headerBlockSupported, headers.hasValues {
            return try makeCMessageWithHeaderBlock()
        }
        return try makeCMessageFieldByField()
    }

    /// A payload up to this size is copied once more, with the header block, into one buffer
    /// for `natsMsg_create`; a larger one takes the field-by-field path (one copy; its headers'
    /// cost is small beside it).
    static let headerBlockPayloadLimit = 64 * 1024

    /// Whether this libnats takes an encoded header block (see `CNats/shim.h`);
    /// `BATON_NATS_HEADER_BLOCK=0` turns it off, to compare.
    /// (A message `natsMsg_create` makes may be freed through nats.c's collector: the library
    /// must be open, as it is wherever a connection publishes.)
    static let headerBlockSupported: Bool = {
        NATSLibrary.openOnce()
        return baton_natsMsg_canCreateWithHeaderBlock() && getenv("BATON_NATS_HEADER_BLOCK").map { String(cString: $0) } != "0"
    }()

    /// Whether messages are freed on the thread that is done with them (`destroy(_:)`) rather
    /// than by nats.c's collector thread: on a libnats whose message layout Baton knows (see
    /// `CNats/shim.h`); `BATON_NATS_FREE_IN_PLACE=0` turns it off, to compare.
    static let freesInPlace: Bool = {
        NATSLibrary.openOnce()
        return baton_natsMsg_canCreateWithHeaderBlock() && getenv("BATON_NATS_FREE_IN_PLACE").map { String(cString: $0) } != "0"
    }()

    /// Destroys a nats.c message Baton is done with (received, or built to publish): freed here
    /// and now where the library allows it, instead of waking nats.c's collector thread.
    static func destroy(_ msg: OpaquePointer) {
        if freesInPlace { baton_natsMsg_destroyNow(msg) } else { natsMsg_Destroy(msg) }
    }

    /// The message in one allocation, its headers encoded here as NATS writes them
    /// (`NATS/1.0\r\n`, `Name: value\r\n` per field in order, `\r\n`) instead of through
    /// nats.c's header map: a fast-lane call's request (five headers) took ~20 of the
    /// gateway's ~121 allocations per call that way (heaptrack). The same fields are written
    /// as `makeCMessageFieldByField` writes them.
    func makeCMessageWithHeaderBlock() throws -> OpaquePointer {
        try checkSubjects("natsMsg_create")
        // The status line, then `Name: value\r\n` per field, then a blank line. A value's line is
        // never longer than the value (`forEachLineByte`), so its UTF-8 count bounds the block;
        // the block's length is where the writer ends.
        var bound = Self.statusLine.utf8CodeUnitCount + Self.lineEnd.utf8CodeUnitCount
        for field in headers.fields where !field.value.isEmpty {
            try Self.checkName(field.name)
            let name: Int = field.name.utf8.count
            let value: Int = field.value.utf8.count
            bound += name + Self.separator.utf8CodeUnitCount + value + Self.lineEnd.utf8CodeUnitCount
        }
        var msg: OpaquePointer? = nil
        let status = withUnsafeTemporaryAllocation(byteCount: bound + payload.readableBytes, alignment: 1) { buffer -> natsStatus in
            var block = BlockWriter(buffer)
            block.write(Self.statusLine)
            for field in headers.fields where !field.value.isEmpty {
                block.write(field.name)
                block.write(Self.separator)
                block.writeLine(field.value)
                block.write(Self.lineEnd)
            }
            block.write(Self.lineEnd)
            let blockLength = block.end
            payload.withUnsafeReadableBytes { bytes in
                UnsafeMutableRawBufferPointer(rebasing: buffer[blockLength...]).copyMemory(from: bytes)
            }
            let length = blockLength + payload.readableBytes
            let base = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            return subject.withCString { subject in
                let subjectLength = Int32(strlen(subject))
                guard let replyTo else {
                    return natsMsg_create(&msg, subject, subjectLength, nil, 0, base, Int32(length), Int32(blockLength))
                }
                return replyTo.withCString { reply in
                    natsMsg_create(&msg, subject, subjectLength, reply, Int32(strlen(reply)), base, Int32(length), Int32(blockLength))
                }
            }
        }
        try check("natsMsg_create(\(subject))", status)
        guard let msg else { throw NATSError(.protocolViolation, "natsMsg_create returned no message") }
        return msg
    }

    /// What `natsMsg_Create` and `natsConnection_Publish` check (`natsMsg_create` does not).
    func checkSubjects(_ what: String) throws {
        guard !subject.isEmpty, replyTo?.isEmpty != true else {
            throw NATSError(.client(status: Int32(NATS_INVALID_ARG.rawValue)), "\(what)(\(subject)): empty subject or reply subject")
        }
    }

    private static let statusLine: StaticString = "NATS/1.0\r\n"
    private static let separator: StaticString = ": "
    private static let lineEnd: StaticString = "\r\n"

    /// Writes a header block into a buffer sized for it: runs of bytes are copied whole (a
    /// byte-by-byte loop was ~2% of a worker's CPU, which writes two blocks a durable job).
    private struct BlockWriter {
        let buffer: UnsafeMutableRawBufferPointer
        var end = 0

        init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

        mutating func write(_ bytes: StaticString) {
            write(UnsafeRawBufferPointer(start: bytes.utf8Start, count: bytes.utf8CodeUnitCount))
        }

        mutating func write(_ string: String) {
            var string = string
            string.withUTF8 { write(UnsafeRawBufferPointer($0)) }
        }

        mutating func write(_ bytes: UnsafeRawBufferPointer) {
            UnsafeMutableRawBufferPointer(rebasing: buffer[end..<end + bytes.count]).copyMemory(from: bytes)
            end += bytes.count
        }

        /// A value as its line carries it (`forEachLineByte`); copied whole when it has no line break.
        mutating func writeLine(_ value: String) {
            var value = value
            value.withUTF8 { bytes in
                if !NATSMessage.hasLineBreak(bytes) { return write(UnsafeRawBufferPointer(bytes)) }
                NATSMessage.forEachLineByte(bytes) { byte in
                    buffer[end] = byte
                    end += 1
                }
            }
        }
    }

    private static func hasLineBreak(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.contains { $0 == 13 || $0 == 10 }
    }

    /// The bytes of a header value as its line carries them: CR and LF would split the block,
    /// so each becomes a space, a CR LF pair one space (as `makeCMessageFieldByField` writes it);
    /// never more bytes than the value has.
    private static func forEachLineByte(_ value: UnsafeBufferPointer<UInt8>, _ body: (UInt8) -> Void) {
        var afterCR = false
        for byte in value {
            switch byte {
            case 13: body(32)
            case 10 where afterCR: break
            case 10: body(32)
            default: body(byte)
            }
            afterCR = byte == 13
        }
    }

    /// A header name must be a token: not empty (nats.c refuses it too), and without the
    /// colon, white space or control characters that would break its line.
    private static func checkName(_ name: String) throws {
        var name = name
        let valid = name.withUTF8 { bytes in
            !bytes.isEmpty && !bytes.contains { $0 <= 32 || $0 >= 127 || $0 == UInt8(ascii: ":") }
        }
        guard valid else {
            throw NATSError(.client(status: Int32(NATS_INVALID_ARG.rawValue)), "invalid header name \"\(name)\"")
        }
    }

    /// Builds the message with nats.c's header calls (a libnats without `natsMsg_create`, or a
    /// large payload).
    func makeCMessageFieldByField() throws -> OpaquePointer {
        var msg: OpaquePointer? = nil
        let status = payload.withUnsafeReadableBytes { bytes in
            natsMsg_Create(
                &msg, subject, replyTo,
                bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count)
            )
        }
        try check("natsMsg_Create(\(subject))", status)
        guard let msg else { throw NATSError(.protocolViolation, "natsMsg_Create returned no message") }
        // An empty value is left out: nats.c writes it so that the field swallows the next one
        // on the way in (seen with an empty `tracestate`). CR and LF would split the header
        // block, so they become spaces.
        for field in headers.fields where !field.value.isEmpty {
            let value = field.value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" })
                ? String(field.value.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
                : field.value
            let s = natsMsgHeader_Add(msg, field.name, value)
            if s != NATS_OK {
                natsMsg_Destroy(msg)
                try check("natsMsgHeader_Add(\(field.name))", s)
            }
        }
        return msg
    }
}
