import CCurl
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One libcurl easy handle. Reused across transfers so that its connections stay alive; used by
/// one thread at a time (it is checked out of `CurlHandlePool` for one transfer).
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

    /// Runs one exchange, blocking the calling thread until it completes, fails, times out or is
    /// cancelled; the response goes to `sink` as it arrives.
    func perform(_ request: HTTPClient.Request, sink: HTTPClient.Sink, transfer: HTTPClient.Transfer) -> HTTPClient.Outcome {
        guard !transfer.isCancelled else { return .failure(.cancelled, "cancelled") }
        var headers: UnsafeMutablePointer<curl_slist>?
        var resolve: UnsafeMutablePointer<curl_slist>?
        defer {
            curl_slist_free_all(headers)
            curl_slist_free_all(resolve)
        }
        let headerLines = request.body == nil ? request.headerLines : request.headerLines + ["Expect:"]
        guard Self.append(headerLines, to: &headers), Self.append(request.resolve, to: &resolve) else {
            return .failure(.transfer, "out of memory")
        }

        let state = TransferState(request: request, sink: sink, transfer: transfer)
        let context = Unmanaged.passRetained(state)
        defer { context.release() }
        // Runs first: no option of the idle handle points at the lists or the state freed above.
        // curl_easy_reset keeps the live connections.
        defer { curl_easy_reset(handle) }

        errorBuffer[0] = 0
        if let failure = configure(request, headers: headers, resolve: resolve, context: context.toOpaque()) {
            return .failure(.transfer, failure)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let code: CURLcode
        if let body = request.body {
            // POSTFIELDS is not copied: the bytes must stay put for the whole perform.
            let bytes = body.isEmpty ? [0] : body
            code = bytes.withUnsafeBytes { raw in
                var set = baton_curl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                if set == CURLE_OK {
                    set = baton_curl_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress))
                }
                return set == CURLE_OK ? curl_easy_perform(handle) : set
            }
        } else {
            code = curl_easy_perform(handle)
        }
        let duration = clock.now - start
        return HTTPClient.Outcome(result: result(code: code, state: state, request: request), duration: duration)
    }

    /// Appends each line; false when libcurl is out of memory.
    private static func append(_ lines: [String], to list: inout UnsafeMutablePointer<curl_slist>?) -> Bool {
        for line in lines {
            guard let longer = curl_slist_append(list, line) else { return false }
            list = longer
        }
        return true
    }

    private func configure(
        _ request: HTTPClient.Request, headers: UnsafeMutablePointer<curl_slist>?, resolve: UnsafeMutablePointer<curl_slist>?,
        context: UnsafeMutableRawPointer
    ) -> String? {
        let h = handle
        var results: [(String, CURLcode)] = [
            ("NOSIGNAL", baton_curl_easy_setopt_long(h, CURLOPT_NOSIGNAL, 1)),
            ("URL", baton_curl_easy_setopt_string(h, CURLOPT_URL, request.url)),
            ("PROTOCOLS_STR", baton_curl_easy_restrict_to_http(h)),
            // A 3xx is returned as is.
            ("FOLLOWLOCATION", baton_curl_easy_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)),
            ("CONNECTTIMEOUT_MS", baton_curl_easy_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, HTTPClient.milliseconds(request.connectTimeout))),
            ("TIMEOUT_MS", baton_curl_easy_setopt_long(h, CURLOPT_TIMEOUT_MS, request.timeout.map(HTTPClient.milliseconds) ?? 0)),
            ("USERAGENT", baton_curl_easy_setopt_string(h, CURLOPT_USERAGENT, request.userAgent)),
            ("HTTPHEADER", baton_curl_easy_setopt_slist(h, CURLOPT_HTTPHEADER, headers)),
            ("ERRORBUFFER", baton_curl_easy_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)),
            ("WRITEFUNCTION", baton_curl_easy_setopt_write_callback(h) { data, size, count, context in
                let length = size * count
                guard let state = TransferState.from(context) else { return 0 }
                // 0 stops the transfer: the rest of the body is not wanted.
                return state.body(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : length)) ? length : 0
            }),
            ("WRITEDATA", baton_curl_easy_setopt_pointer(h, CURLOPT_WRITEDATA, context)),
            ("HEADERFUNCTION", baton_curl_easy_setopt_header_callback(h) { data, size, count, context in
                let length = size * count
                guard let state = TransferState.from(context), let data else { return length }
                state.header(UnsafeRawBufferPointer(start: data, count: length))
                return length
            }),
            ("HEADERDATA", baton_curl_easy_setopt_pointer(h, CURLOPT_HEADERDATA, context)),
            ("NOPROGRESS", baton_curl_easy_setopt_long(h, CURLOPT_NOPROGRESS, 0)),
            ("XFERINFOFUNCTION", baton_curl_easy_setopt_xferinfo_callback(h) { context, _, _, _, _ in
                TransferState.from(context)?.progress() ?? 1
            }),
            ("XFERINFODATA", baton_curl_easy_setopt_pointer(h, CURLOPT_XFERINFODATA, context)),
        ]
        if !request.usesEnvironmentProxy {
            results.append(("PROXY", baton_curl_easy_setopt_string(h, CURLOPT_PROXY, "")))
        }
        if resolve != nil {
            results.append(("RESOLVE", baton_curl_easy_setopt_slist(h, CURLOPT_RESOLVE, resolve)))
        }
        if request.socketFilter != nil {
            results.append(("OPENSOCKETFUNCTION", baton_curl_easy_setopt_opensocket_callback(h) { context, _, address in
                guard let state = TransferState.from(context), let address else { return CURL_SOCKET_BAD }
                return openSocket(address, state: state)
            }))
            results.append(("OPENSOCKETDATA", baton_curl_easy_setopt_pointer(h, CURLOPT_OPENSOCKETDATA, context)))
        }
        switch request.method {
        case "GET": break
        case "POST": results.append(("POST", baton_curl_easy_setopt_long(h, CURLOPT_POST, 1)))
        default: results.append(("CUSTOMREQUEST", baton_curl_easy_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)))
        }
        guard let failed = results.first(where: { $0.1 != CURLE_OK }) else { return nil }
        return "curl_easy_setopt(CURLOPT_\(failed.0)): \(String(cString: curl_easy_strerror(failed.1)))"
    }

    private func result(code: CURLcode, state: TransferState, request: HTTPClient.Request) -> Result<HTTPClient.ResponseHead, HTTPClientError> {
        if code == CURLE_OK || (code == CURLE_WRITE_ERROR && state.bodyLimitReached) {
            if let head = state.head { return .success(head) }
            var status = 0
            _ = baton_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            if status > 0 { return .success(state.deliverHead(status: status)) }
        }
        if let refusal = state.refusal { return .failure(HTTPClientError(.refusedAddress, refusal)) }
        if code == CURLE_ABORTED_BY_CALLBACK {
            if state.idle { return .failure(HTTPClientError(.timedOut, "nothing received for \(request.idleTimeout ?? .zero)")) }
            if state.transfer.isCancelled { return .failure(HTTPClientError(.cancelled, "cancelled")) }
        }
        if code == CURLE_OK { return .failure(HTTPClientError(.transfer, "no HTTP response")) }
        let message = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        return .failure(HTTPClientError(code == CURLE_OPERATION_TIMEDOUT ? .timedOut : .transfer, message))
    }
}

/// CURLOPT_OPENSOCKETFUNCTION: opens the socket only for an address the request's socket filter
/// allows.
private func openSocket(_ address: UnsafeMutablePointer<curl_sockaddr>, state: TransferState) -> curl_socket_t {
    let offset = MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr) ?? 0
    guard state.allowsSocket(to: UnsafeRawPointer(address) + offset, length: Int(address.pointee.addrlen)) else {
        return CURL_SOCKET_BAD
    }
    #if os(Linux)
    let type = address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue)
    #else
    let type = address.pointee.socktype
    #endif
    return socket(address.pointee.family, type, address.pointee.`protocol`)
}

/// Idle easy handles, most recently used first (their connections are the likeliest to be alive).
final class CurlHandlePool: Sendable {
    private let state: Mutex<(idle: [CurlEasy], closed: Bool)>
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        state = Mutex((idle: [], closed: false))
    }

    /// An idle handle, or a new one.
    func checkOut() -> CurlEasy? {
        state.withLock { $0.idle.popLast() } ?? CurlEasy()
    }

    /// Back to the pool, or cleaned up when the pool is full or closed.
    func checkIn(_ handle: CurlEasy) {
        state.withLock { state in
            if !state.closed, state.idle.count < capacity { state.idle.append(handle) }
        }
    }

    /// Cleans up the idle handles (closing their connections); later check-ins are cleaned up too.
    func close() {
        let idle = state.withLock { state in
            state.closed = true
            defer { state.idle = [] }
            return state.idle
        }
        _ = idle  // Released here, outside the lock: deinit runs curl_easy_cleanup.
    }
}
