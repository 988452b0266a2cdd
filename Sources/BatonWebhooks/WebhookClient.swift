import BatonHTTPClient

/// Posts webhook deliveries with `HTTPClient` (libcurl on its own threads, off the NIO event
/// loops; at most `maxConcurrent` deliveries in flight, more wait; connections kept alive).
///
/// What a delivery adds to the client's defaults, the target policy in transfer options: no
/// proxy, the connect and total timeouts, the response body read and discarded (the transfer
/// stops after 64 KiB of it), User-Agent "baton-webhooks/1", and "Content-Type:
/// application/json" unless the headers name another. The target's host is pinned to
/// `target.addresses` (CURLOPT_RESOLVE) and sockets are opened only to those addresses (the
/// socket filter), so a target must come from `WebhookPolicy.resolve` (or be an IP literal from
/// `checkSyntax`). Cancelling the calling task aborts the transfer (within about a second).
///
/// Call `shutdown()` when done.
public final class WebhookClient: Sendable {
    /// The most response body read (and discarded) before the transfer is cut off.
    static let bodyLimit = 64 * 1024

    private let http: HTTPClient
    private let connectTimeout: Duration
    private let totalTimeout: Duration

    /// - Parameters:
    ///   - maxConcurrent: the most deliveries in flight at once (threads and easy handles).
    ///   - connectTimeout: the longest a connection may take to establish (CURLOPT_CONNECTTIMEOUT_MS).
    ///   - totalTimeout: the longest one delivery may take in all (CURLOPT_TIMEOUT_MS).
    public init(maxConcurrent: Int = 16, connectTimeout: Duration = .seconds(5), totalTimeout: Duration = .seconds(15)) {
        http = HTTPClient(maxConcurrent: maxConcurrent)
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
    }

    /// POSTs `body` with `headers` (e.g. `WebhookSigner.headers`) to `target`.
    /// Never throws: every failure is a response with `error` set and `status` nil.
    public func post(to target: WebhookTarget, headers: [(name: String, value: String)], body: [UInt8]) async -> WebhookResponse {
        guard !http.isShutDown else { return .failure(Self.shutDownText) }
        let request: HTTPClient.Request
        do {
            request = try makeRequest(target: target, headers: headers, body: body)
        } catch {
            return .failure(error.description)
        }
        let outcome = await http.perform(request)
        switch outcome.result {
        case .success(let head):
            let status = head.status
            let retryAfter = status == 429 || status == 503 ? head.values("retry-after").last.flatMap { RetryAfter.parse($0) } : nil
            let error = (200..<300).contains(status) ? nil : "HTTP \(status)"
            return WebhookResponse(status: status, retryAfter: retryAfter, error: error, duration: outcome.duration)
        case .failure(let error):
            let message = error.kind == .shutDown ? Self.shutDownText : error.description
            return WebhookResponse(status: nil, error: message, duration: outcome.duration)
        }
    }

    /// Waits for the deliveries in flight, stops the threads and closes the connections.
    /// Later `post` calls fail at once.
    public func shutdown() async {
        await http.shutdown()
    }

    private static let shutDownText = "webhook client is shut down"

    private func makeRequest(target: WebhookTarget, headers: [(name: String, value: String)], body: [UInt8]) throws(HTTPClientError) -> HTTPClient.Request {
        let addresses = target.addresses.compactMap(IPAddress.init)
        guard !addresses.isEmpty, addresses.count == target.addresses.count else {
            throw HTTPClientError(.invalidRequest, "target \(target.host) has no resolved addresses: use WebhookPolicy.resolve")
        }
        var lines: [String] = []
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
                throw HTTPClientError(.invalidRequest, "invalid header name \"\(name)\"")
            }
            guard value.utf8.allSatisfy({ $0 != 0x0d && $0 != 0x0a && $0 != 0 }) else {
                throw HTTPClientError(.invalidRequest, "invalid value for header \(name)")
            }
            // "Name:" would remove a header in libcurl; "Name;" sends it empty.
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        if !headers.contains(where: { $0.name.lowercased() == "content-type" }) { lines.append("Content-Type: application/json") }

        var request = HTTPClient.Request(
            method: "POST", url: target.url, headerLines: lines, body: body, userAgent: "baton-webhooks/1",
            connectTimeout: connectTimeout, timeout: totalTimeout)
        // No proxy, whatever http_proxy says: the checked addresses are the ones connected to.
        request.usesEnvironmentProxy = false
        request.responseBodyLimit = Self.bodyLimit
        if IPAddress(target.host) == nil {
            let pinned = addresses.map { $0.isIPv4 ? $0.description : "[\($0)]" }.joined(separator: ",")
            request.resolve = ["\(target.host):\(target.port):\(pinned)"]
        }
        request.socketFilter = { sockaddr, length in
            let address = IPAddress(sockaddr: sockaddr, length: length)
            if let address, addresses.contains(address) { return nil }
            return "refused to connect to \(address?.description ?? "an unknown address"): not an address the target resolved to"
        }
        return request
    }

    /// RFC 9110 token characters.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5a, 0x61...0x7a: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }
}
