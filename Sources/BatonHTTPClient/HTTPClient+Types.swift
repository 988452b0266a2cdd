import Synchronization

extension HTTPClient {
    /// One exchange: what to send and how the transfer may behave.
    ///
    /// The defaults suit a client of a server it was told to use (the CLI and its gateway). A
    /// caller that must not be steered elsewhere (webhook delivery) turns the proxy off, bounds
    /// the response body, pins the host's addresses (`resolve`) and vets every socket
    /// (`socketFilter`).
    public struct Request: Sendable {
        /// "GET", "POST" (CURLOPT_POST) or any other (CURLOPT_CUSTOMREQUEST).
        public var method: String
        public var url: String
        /// "Name: value" lines, as libcurl takes them: "Name:" removes a header libcurl would
        /// add, "Name;" sends it empty.
        public var headerLines: [String]
        /// Sent as is (CURLOPT_POSTFIELDS), after an "Expect:" line that keeps libcurl 7.x from
        /// waiting up to a second for "100 Continue" on bodies over 1 KiB.
        public var body: [UInt8]?
        /// CURLOPT_USERAGENT.
        public var userAgent: String
        /// The longest the connection may take to establish (at least 1 ms).
        public var connectTimeout: Duration
        /// The longest the whole exchange may take (at least 1 ms); nil for no limit (streams).
        public var timeout: Duration?
        /// Abort when nothing at all (not even a heartbeat) arrives for this long (streams).
        public var idleTimeout: Duration?
        /// False: no proxy, whatever http_proxy and friends say (CURLOPT_PROXY ""), so that the
        /// addresses checked are the ones connected to.
        public var usesEnvironmentProxy = true
        /// The most body bytes wanted: the transfer stops after that many and still counts as a
        /// complete response. Nil: all of it.
        public var responseBodyLimit: Int?
        /// CURLOPT_RESOLVE entries ("host:port:addr,[v6addr]"): the addresses the host stands for,
        /// instead of what DNS says.
        public var resolve: [String] = []
        /// Asked before each socket is opened (CURLOPT_OPENSOCKETFUNCTION), with the peer's
        /// sockaddr and its length: nil allows it, a reason refuses it (the transfer then fails
        /// with `.refusedAddress` and that reason). The last line of defence should libcurl ever
        /// pick an address by itself.
        public var socketFilter: (@Sendable (_ sockaddr: UnsafeRawPointer, _ length: Int) -> String?)?

        public init(
            method: String, url: String, headerLines: [String] = [], body: [UInt8]? = nil, userAgent: String,
            connectTimeout: Duration = .seconds(10), timeout: Duration? = nil, idleTimeout: Duration? = nil
        ) {
            self.method = method
            self.url = url
            self.headerLines = headerLines
            self.body = body
            self.userAgent = userAgent
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.idleTimeout = idleTimeout
        }
    }

    /// The final (non-1xx) response head.
    public struct ResponseHead: Sendable {
        public var status: Int
        /// In the order received; names lowercased, values without surrounding whitespace.
        public var headers: [(name: String, value: String)]

        /// The values of header `name` (lowercase), in the order received.
        public func values(_ name: String) -> [String] {
            headers.filter { $0.name == name }.map(\.value)
        }
    }

    /// A whole answer (`send`).
    public struct Response: Sendable {
        public var head: ResponseHead
        public var body: [UInt8]
        /// How long the exchange took (not the wait for a free thread).
        public var duration: Duration
    }

    /// How one transfer ended.
    public struct Outcome: Sendable {
        public var result: Result<ResponseHead, HTTPClientError>
        /// How long the exchange took (not the wait for a free thread); zero when it never started.
        public var duration: Duration

        static func failure(_ kind: HTTPClientError.Kind, _ description: String) -> Outcome {
            Outcome(result: .failure(HTTPClientError(kind, description)), duration: .zero)
        }
    }

    /// Where a response goes, called on the transfer's thread, in order: `head` once (when the
    /// final head is complete), then `body` for each chunk as it arrives. The buffer is only
    /// valid during the call.
    public struct Sink: Sendable {
        public var head: @Sendable (ResponseHead) -> Void
        public var body: @Sendable (UnsafeRawBufferPointer) -> Void

        public init(head: @escaping @Sendable (ResponseHead) -> Void, body: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
            self.head = head
            self.body = body
        }

        /// Nothing kept: for callers that only want the outcome.
        public static let discard = Sink(head: { _ in }, body: { _ in })
    }

    /// A started transfer (`start`), to stop early.
    public final class Transfer: Sendable {
        private let flag = Atomic<Bool>(false)

        init() {}

        /// Aborts the transfer within about a second: libcurl calls the progress callback, which
        /// reads this flag, at least once a second. Harmless once it has ended.
        public func cancel() { flag.store(true, ordering: .relaxed) }

        public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    }
}

/// Why a request got no (complete) response: every failure of `HTTPClient`, and of the checks
/// its callers make before a request goes out.
public struct HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The request was refused before it went out (bad header, unusable target, ...).
        case invalidRequest
        /// The caller cancelled (task cancelled, transfer cancelled, stream dropped).
        case cancelled
        /// The total timeout, or nothing received for the idle timeout.
        case timedOut
        /// `Request.socketFilter` refused every address libcurl tried.
        case refusedAddress
        /// The client was shut down.
        case shutDown
        /// Anything else libcurl reports (connection refused, DNS, TLS, no HTTP response, ...).
        case transfer
    }

    public var kind: Kind
    /// libcurl's error text (its error buffer, else curl_easy_strerror), or ours.
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
