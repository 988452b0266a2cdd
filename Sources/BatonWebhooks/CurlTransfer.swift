import CCurl
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What one POST needs, prepared (and validated) before it goes to a curl thread.
struct CurlRequest: Sendable {
    var url: String
    /// "host:port:addr,[v6addr]" for CURLOPT_RESOLVE; nil when the host is an IP literal.
    var resolveEntry: String?
    /// The only addresses a socket may be opened to.
    var addresses: [IPAddress]
    /// "Name: value" lines.
    var headerLines: [String]
    var body: [UInt8]
    var connectTimeoutMilliseconds: Int
    var totalTimeoutMilliseconds: Int
}

/// Set from the task's cancellation handler, read by the transfer's progress callback.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// What the C callbacks of one transfer record. Lives (retained) exactly as long as the
/// `curl_easy_perform` call; only that call's thread touches it.
final class TransferState {
    /// The most response body read (and discarded) before the transfer is cut off.
    static let bodyLimit = 64 * 1024

    let addresses: [IPAddress]
    let cancellation: CancellationFlag
    var bodyBytes = 0
    var bodyLimitReached = false
    var retryAfter: String?
    var refusedAddress: String?

    init(addresses: [IPAddress], cancellation: CancellationFlag) {
        self.addresses = addresses
        self.cancellation = cancellation
    }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> TransferState? {
        pointer.map { Unmanaged<TransferState>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// One libcurl easy handle. Reused across transfers so that its connections stay alive;
/// used by one thread at a time (it is checked out of `CurlHandlePool` for one transfer).
final class CurlEasy: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private static let errorBufferSize = Int(CURL_ERROR_SIZE)

    init?() {
        guard let handle = curl_easy_init() else { return nil }
        self.handle = handle
        errorBuffer = .allocate(capacity: Self.errorBufferSize)
        errorBuffer.initialize(repeating: 0, count: Self.errorBufferSize)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Runs one POST, blocking the calling thread until it completes, fails or times out.
    func perform(_ request: CurlRequest, cancellation: CancellationFlag) -> WebhookResponse {
        var headers: UnsafeMutablePointer<curl_slist>?
        var resolve: UnsafeMutablePointer<curl_slist>?
        defer {
            curl_slist_free_all(headers)
            curl_slist_free_all(resolve)
        }
        for line in request.headerLines { headers = curl_slist_append(headers, line) }
        if let entry = request.resolveEntry { resolve = curl_slist_append(resolve, entry) }
        guard headers != nil, request.resolveEntry == nil || resolve != nil else { return .failure("out of memory") }

        let state = TransferState(addresses: request.addresses, cancellation: cancellation)
        let context = Unmanaged.passRetained(state)
        defer { context.release() }
        // Runs first: no option of the idle handle points at the lists or the state freed above.
        // curl_easy_reset keeps the live connections.
        defer { curl_easy_reset(handle) }

        errorBuffer[0] = 0
        if let failure = configure(request, headers: headers, resolve: resolve, context: context.toOpaque()) {
            return .failure(failure)
        }
        // POSTFIELDS is not copied: the bytes must stay put for the whole perform.
        let bytes = request.body.isEmpty ? [0] : request.body
        let clock = ContinuousClock()
        let start = clock.now
        let code = bytes.withUnsafeBytes { raw in
            let set = baton_curl_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress))
            return set == CURLE_OK ? curl_easy_perform(handle) : set
        }
        let duration = clock.now - start
        return response(code: code, state: state, duration: duration)
    }

    private func configure(
        _ request: CurlRequest, headers: UnsafeMutablePointer<curl_slist>?, resolve: UnsafeMutablePointer<curl_slist>?,
        context: UnsafeMutableRawPointer
    ) -> String? {
        let h = handle
        let results: [(String, CURLcode)] = [
            ("NOSIGNAL", baton_curl_easy_setopt_long(h, CURLOPT_NOSIGNAL, 1)),
            ("URL", baton_curl_easy_setopt_string(h, CURLOPT_URL, request.url)),
            ("PROTOCOLS_STR", baton_curl_easy_restrict_to_http(h)),
            ("FOLLOWLOCATION", baton_curl_easy_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)),
            // No proxy, whatever http_proxy says: the checked addresses are the ones connected to.
            ("PROXY", baton_curl_easy_setopt_string(h, CURLOPT_PROXY, "")),
            ("CONNECTTIMEOUT_MS", baton_curl_easy_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMilliseconds)),
            ("TIMEOUT_MS", baton_curl_easy_setopt_long(h, CURLOPT_TIMEOUT_MS, request.totalTimeoutMilliseconds)),
            ("USERAGENT", baton_curl_easy_setopt_string(h, CURLOPT_USERAGENT, "baton-webhooks/1")),
            ("POST", baton_curl_easy_setopt_long(h, CURLOPT_POST, 1)),
            ("POSTFIELDSIZE_LARGE", baton_curl_easy_setopt_off_t(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))),
            ("HTTPHEADER", baton_curl_easy_setopt_slist(h, CURLOPT_HTTPHEADER, headers)),
            ("RESOLVE", baton_curl_easy_setopt_slist(h, CURLOPT_RESOLVE, resolve)),
            ("ERRORBUFFER", baton_curl_easy_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)),
            ("WRITEFUNCTION", baton_curl_easy_setopt_write_callback(h) { _, size, count, context in
                let length = size * count
                guard let state = TransferState.from(context) else { return 0 }
                state.bodyBytes += length
                guard state.bodyBytes <= TransferState.bodyLimit else {
                    state.bodyLimitReached = true
                    return 0  // Stops the transfer: the rest of the body is not wanted.
                }
                return length
            }),
            ("WRITEDATA", baton_curl_easy_setopt_pointer(h, CURLOPT_WRITEDATA, context)),
            ("HEADERFUNCTION", baton_curl_easy_setopt_header_callback(h) { data, size, count, context in
                let length = size * count
                guard let state = TransferState.from(context), let data else { return length }
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
                if line.hasPrefix("HTTP/") {
                    state.retryAfter = nil  // A new response (after 100 Continue): forget the last one's headers.
                } else if line.count > 12, line.prefix(12).lowercased() == "retry-after:" {
                    state.retryAfter = String(line.dropFirst(12)).trimmingWhitespace
                }
                return length
            }),
            ("HEADERDATA", baton_curl_easy_setopt_pointer(h, CURLOPT_HEADERDATA, context)),
            ("NOPROGRESS", baton_curl_easy_setopt_long(h, CURLOPT_NOPROGRESS, 0)),
            ("XFERINFOFUNCTION", baton_curl_easy_setopt_xferinfo_callback(h) { context, _, _, _, _ in
                TransferState.from(context)?.cancellation.isCancelled == true ? 1 : 0
            }),
            ("XFERINFODATA", baton_curl_easy_setopt_pointer(h, CURLOPT_XFERINFODATA, context)),
            ("OPENSOCKETFUNCTION", baton_curl_easy_setopt_opensocket_callback(h) { context, _, address in
                guard let state = TransferState.from(context), let address else { return CURL_SOCKET_BAD }
                return openSocket(address, state: state)
            }),
            ("OPENSOCKETDATA", baton_curl_easy_setopt_pointer(h, CURLOPT_OPENSOCKETDATA, context)),
        ]
        guard let failed = results.first(where: { $0.1 != CURLE_OK }) else { return nil }
        return "curl_easy_setopt(CURLOPT_\(failed.0)): \(String(cString: curl_easy_strerror(failed.1)))"
    }

    private func response(code: CURLcode, state: TransferState, duration: Duration) -> WebhookResponse {
        var status = 0
        _ = baton_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if code == CURLE_OK || (code == CURLE_WRITE_ERROR && state.bodyLimitReached), status > 0 {
            let retryAfter = status == 429 || status == 503 ? state.retryAfter.flatMap { RetryAfter.parse($0) } : nil
            let error = (200..<300).contains(status) ? nil : "HTTP \(status)"
            return WebhookResponse(status: status, retryAfter: retryAfter, error: error, duration: duration)
        }
        let message: String
        if let refused = state.refusedAddress {
            message = "refused to connect to \(refused): not an address the target resolved to"
        } else if code == CURLE_ABORTED_BY_CALLBACK, state.cancellation.isCancelled {
            message = "cancelled"
        } else if code == CURLE_OK {
            message = "no HTTP response"
        } else if errorBuffer[0] != 0 {
            message = String(cString: errorBuffer)
        } else {
            message = String(cString: curl_easy_strerror(code))
        }
        return WebhookResponse(status: nil, error: message, duration: duration)
    }
}

/// CURLOPT_OPENSOCKETFUNCTION: opens the socket only for an address of the checked target,
/// the last line of defence should libcurl ever resolve the host by itself.
private func openSocket(_ address: UnsafeMutablePointer<curl_sockaddr>, state: TransferState) -> curl_socket_t {
    let offset = MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr) ?? 0
    let sockaddr = UnsafeRawPointer(address) + offset
    let length = Int(address.pointee.addrlen)
    guard let ip = IPAddress(sockaddr: sockaddr, length: length), state.addresses.contains(ip) else {
        state.refusedAddress = IPAddress(sockaddr: sockaddr, length: length)?.description ?? "an unknown address"
        return CURL_SOCKET_BAD
    }
    #if os(Linux)
    let type = address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue)
    #else
    let type = address.pointee.socktype
    #endif
    return socket(address.pointee.family, type, address.pointee.`protocol`)
}
