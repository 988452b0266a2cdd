/// What the C callbacks of one transfer see and record. Lives (retained) exactly as long as the
/// `curl_easy_perform` call; only that call's thread touches it.
final class TransferState {
    let sink: HTTPClient.Sink
    let transfer: HTTPClient.Transfer
    let idleTimeout: Duration?
    let bodyLimit: Int?
    let socketFilter: (@Sendable (UnsafeRawPointer, Int) -> String?)?

    /// The status of the head being received (0 before its status line).
    private var status = 0
    /// The headers of the head being received.
    private(set) var headers: [(name: String, value: String)] = []
    /// The final head, once handed to the sink.
    private(set) var head: HTTPClient.ResponseHead?
    private var bodyBytes = 0
    /// The body went past `bodyLimit`, and the transfer was stopped on purpose.
    private(set) var bodyLimitReached = false
    private var lastActivity = ContinuousClock.now
    /// The transfer was aborted for the idle timeout.
    private(set) var idle = false
    /// Why `socketFilter` refused the last address it was asked about.
    var refusal: String?

    init(request: HTTPClient.Request, sink: HTTPClient.Sink, transfer: HTTPClient.Transfer) {
        self.sink = sink
        self.transfer = transfer
        idleTimeout = request.idleTimeout
        bodyLimit = request.responseBodyLimit
        socketFilter = request.socketFilter
    }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> TransferState? {
        pointer.map { Unmanaged<TransferState>.fromOpaque($0).takeUnretainedValue() }
    }

    /// One header line (with its CRLF); at the blank line that ends a final (non-1xx) head,
    /// hands the head to the sink.
    func header(_ line: UnsafeRawBufferPointer) {
        lastActivity = .now
        let trimmed = Self.trimmed(line[...])
        if line.starts(with: "HTTP/".utf8) {
            // A new response (after 100 Continue): forget the last one's headers.
            let fields = trimmed.split(separator: UInt8(ascii: " "))
            status = fields.dropFirst().first.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            headers = []
        } else if trimmed.isEmpty {
            guard status >= 200, head == nil else { return }
            deliverHead(status: status)
        } else if let colon = trimmed.firstIndex(of: UInt8(ascii: ":")) {
            let name = String(decoding: trimmed[..<colon].map(Self.lowercased), as: UTF8.self)
            let value = String(decoding: Self.trimmed(trimmed[(colon + 1)...]), as: UTF8.self)
            headers.append((name: name, value: value))
        }
    }

    /// Hands the head to the sink (once); `status` from the status line, or from libcurl when the
    /// transfer ended without a blank line.
    @discardableResult
    func deliverHead(status: Int) -> HTTPClient.ResponseHead {
        if let head { return head }
        let delivered = HTTPClient.ResponseHead(status: status, headers: headers)
        head = delivered
        sink.head(delivered)
        return delivered
    }

    /// One body chunk; false stops the transfer (the body limit is reached).
    func body(_ chunk: UnsafeRawBufferPointer) -> Bool {
        lastActivity = .now
        bodyBytes += chunk.count
        if let bodyLimit, bodyBytes > bodyLimit {
            bodyLimitReached = true
            return false
        }
        if !chunk.isEmpty { sink.body(chunk) }
        return true
    }

    /// The progress callback: non-zero aborts the transfer.
    func progress() -> Int32 {
        if transfer.isCancelled { return 1 }
        if let idleTimeout, ContinuousClock.now - lastActivity > idleTimeout {
            idle = true
            return 1
        }
        return 0
    }

    /// Whether a socket may be opened to this peer (always, without a filter).
    func allowsSocket(to sockaddr: UnsafeRawPointer, length: Int) -> Bool {
        guard let socketFilter, let reason = socketFilter(sockaddr, length) else { return true }
        refusal = reason
        return false
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }

    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            return bytes[bytes.startIndex..<bytes.startIndex]
        }
        return bytes[first...last]
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }
}
