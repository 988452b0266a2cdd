import CNats

/// An error from the NATS binding.
///
/// C failures carry nats.c's status and the text of `nats_GetLastError`, read on the thread that
/// made the failing call (it is thread-local in nats.c).
public struct NATSError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A nats.c call failed; `status` is its `natsStatus` raw value.
        case client(status: Int32)
        /// A request got no answer within its timeout.
        case timeout
        /// The server said nobody subscribes to the request's subject.
        case noResponders
        /// The connection is closed or draining.
        case connectionClosed
        /// JetStream answered with an API error (`code` is the HTTP-like code, `errorCode` the JetStream one).
        case jetStream(code: Int, errorCode: Int)
        /// A KV create or update found another revision than the one expected.
        case wrongLastSequence
        /// The stream refused a publish because it is full: the subject holds its
        /// `max_msgs_per_subject` with `discard_new_per_subject` (or the stream its max messages
        /// or bytes with `discard: new`). Server: code 503, err_code 10077, "maximum messages per
        /// subject exceeded". Retry later.
        case streamFull
        /// A reply could not be understood.
        case protocolViolation
        /// The server refused the connection's credentials (`Authorization Violation`), or
        /// wanted some and got none.
        case authorizationFailed
        /// TLS could not be set up: the server's certificate is not trusted or not for its
        /// name, the server refused the client's, or one side wants TLS and the other does not.
        case tls
        /// Settings that cannot work: a file that cannot be read, credentials that conflict.
        case invalidConfiguration
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "NATSError(\(kind)): \(message)" }

    /// An error retrying cannot mend: a connection that fails so at start-up fails at once
    /// instead of retrying until its connect timeout.
    public var isPermanent: Bool {
        [.authorizationFailed, .tls, .invalidConfiguration].contains(kind)
    }

    /// JetStream error code for "wrong last sequence: N" (KV create/update conflict).
    static let jsWrongLastSequence = 10071
    /// JetStream error code for "wrong last sequence" without a number: on a replicated stream,
    /// nats-server 2.11+ refuses an expected-sequence write while another write to the same
    /// subject is still being proposed (nats-server#6194). The same conflict as 10071.
    static let jsWrongLastSequenceInFlight = 10164
    /// JetStream error code for "stream store failed" (JSStreamStoreFailedF); the description
    /// says why, e.g. "maximum messages per subject exceeded" for a full subject.
    static let jsStreamStoreFailed = 10077
    /// JetStream error codes of an API delete whose target is absent: "sequence N not found"
    /// (what nats-server 2.9 through 2.15 answer a delete of a message that is gone), "no message
    /// found", consumer not found, stream not found.
    static let jsSequenceNotFound = 10043
    static let jsNoMessageFound = 10057
    static let jsConsumerNotFound = 10014
    static let jsStreamNotFound = 10059

    /// Builds an error from a failed nats.c call. Must run on the thread that made the call.
    static func fromLastError(_ status: natsStatus, _ what: String) -> NATSError {
        var text = ""
        if let last = nats_GetLastError(nil) {
            text = String(cString: last)
        }
        if text.isEmpty, let s = natsStatus_GetText(status) {
            text = String(cString: s)
        }
        if status == NATS_CONNECTION_CLOSED {
            return NATSError(.connectionClosed, "\(what): \(text)")
        }
        if status == NATS_NO_RESPONDERS {
            return NATSError(.noResponders, "\(what): \(text)")
        }
        if status == NATS_TIMEOUT {
            return NATSError(.timeout, "\(what): \(text)")
        }
        if status == NATS_CONNECTION_AUTH_FAILED {
            return NATSError(.authorizationFailed, "\(what): the server refused the credentials (\(withoutLocation(text)))")
        }
        if status == NATS_SSL_ERROR || status == NATS_SECURE_CONNECTION_WANTED || status == NATS_SECURE_CONNECTION_REQUIRED {
            return NATSError(.tls, "\(what): TLS failed (\(withoutLocation(text)))")
        }
        return NATSError(.client(status: Int32(status.rawValue)), "\(what): \(text)")
    }
}

/// nats.c's error text without the source location it starts with (`(conn.c:1905): `).
private func withoutLocation(_ text: String) -> String {
    guard text.hasPrefix("("), let end = text.range(of: "): "), text[..<end.lowerBound].contains(".c:") else { return text }
    return String(text[end.upperBound...])
}

/// Runs a nats.c call and throws a `NATSError` when it does not return `NATS_OK`.
@inline(__always)
func check(_ what: @autoclosure () -> String, _ status: natsStatus) throws {
    if status != NATS_OK {
        throw NATSError.fromLastError(status, what())
    }
}
