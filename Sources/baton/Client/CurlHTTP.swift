import CCurl
import Foundation
import Synchronization

/// The client's HTTP transport: one libcurl easy transfer, blocking on its own thread.
///
/// Not URLSession: on Linux (swift-corelibs-foundation over libcurl) a URLSession request spins
/// a CPU core for as long as it waits for the answer — the write-readiness DispatchSource it
/// creates while connecting is never cancelled when libcurl asks for read readiness only, so
/// it fires continuously (measured: 2.0 s of system CPU during a 3 s long-poll, ~3,000
/// epoll/poll/eventfd round trips a second). Long-polls (`--wait`) and event streams (`watch`)
/// spend most of their life waiting, so the client calls libcurl itself: `curl_easy_perform`
/// sleeps in poll(2) until there is something to read.
enum CurlHTTP {
    struct Request: Sendable {
        var method: String
        var url: String
        /// "Name: value" lines.
        var headerLines: [String]
        var body: Data?
        /// 0: none (streams).
        var timeoutMilliseconds: Int
        /// Abort when nothing at all (not even a heartbeat) arrives for this long (streams).
        var idleTimeout: Duration?
    }

    /// Calls from the transfer's thread: the response head once, then each body chunk.
    struct Sink: Sendable {
        var head: @Sendable (GatewayResponse) -> Void
        var data: @Sendable (Data) -> Void
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        var timedOut = false
    }

    /// Set by the caller (task cancelled, stream dropped), read by the transfer's progress
    /// callback, which libcurl calls at least once a second.
    final class Cancellation: Sendable {
        private let flag = Atomic<Bool>(false)
        func cancel() { flag.store(true, ordering: .relaxed) }
        var isCancelled: Bool { flag.load(ordering: .relaxed) }
    }

    private static let globalInit: Bool = baton_curl_global_init() == CURLE_OK

    /// Starts the transfer on a new thread; `completion` gets nil on success, else the failure.
    static func start(_ request: Request, sink: Sink, cancellation: Cancellation, completion: @escaping @Sendable (Failure?) -> Void) {
        guard globalInit else {
            completion(Failure(description: "curl_global_init failed"))
            return
        }
        let thread = Thread {
            completion(perform(request, sink: sink, cancellation: cancellation))
        }
        thread.name = "baton-http"
        thread.start()
    }

    /// The whole answer of one request.
    static func send(_ request: Request) async throws -> GatewayResponse {
        let cancellation = Cancellation()
        let collected = Mutex<(head: GatewayResponse?, body: Data)>((nil, Data()))
        let sink = Sink(
            head: { head in collected.withLock { $0.head = head } },
            data: { chunk in collected.withLock { $0.body.append(chunk) } })
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<GatewayResponse, any Error>) in
                start(request, sink: sink, cancellation: cancellation) { failure in
                    if let failure {
                        continuation.resume(throwing: failure)
                        return
                    }
                    let (head, body) = collected.withLock { ($0.head, $0.body) }
                    guard var response = head else {
                        continuation.resume(throwing: Failure(description: "no HTTP response"))
                        return
                    }
                    response.body = body
                    continuation.resume(returning: response)
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    // MARK: - The transfer (on its own thread)

    /// What the C callbacks of one transfer see; only the transfer's thread touches it.
    private final class TransferState {
        let sink: Sink
        let cancellation: Cancellation
        let idleTimeout: Duration?
        var statusLine = ""
        var headers: [String: String] = [:]
        var headDelivered = false
        var lastActivity = ContinuousClock.now
        var idle = false

        init(sink: Sink, cancellation: Cancellation, idleTimeout: Duration?) {
            self.sink = sink
            self.cancellation = cancellation
            self.idleTimeout = idleTimeout
        }

        static func from(_ pointer: UnsafeMutableRawPointer?) -> TransferState? {
            pointer.map { Unmanaged<TransferState>.fromOpaque($0).takeUnretainedValue() }
        }

        /// One header line; at the blank line that ends a final (non-1xx) head, delivers it.
        func header(_ line: String) {
            lastActivity = .now
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.hasPrefix("HTTP/") {
                statusLine = trimmed  // A new response (after 100 Continue): forget the last one.
                headers = [:]
            } else if trimmed.isEmpty {
                let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                guard status >= 200, !headDelivered else { return }
                headDelivered = true
                sink.head(GatewayResponse(status: status, headers: headers, body: Data()))
            } else if let colon = trimmed.firstIndex(of: ":") {
                let name = trimmed[..<colon].lowercased()
                let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers[name] = headers[name].map { "\($0), \(value)" } ?? value
            }
        }

        func body(_ data: Data) {
            lastActivity = .now
            sink.data(data)
        }

        /// Non-zero aborts the transfer.
        func progress() -> Int32 {
            if cancellation.isCancelled { return 1 }
            if let idleTimeout, ContinuousClock.now - lastActivity > idleTimeout {
                idle = true
                return 1
            }
            return 0
        }
    }

    private static func perform(_ request: Request, sink: Sink, cancellation: Cancellation) -> Failure? {
        guard let handle = curl_easy_init() else { return Failure(description: "curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        defer { errorBuffer.deallocate() }
        var headers: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headers) }
        for line in request.headerLines { headers = curl_slist_append(headers, line) }

        let state = TransferState(sink: sink, cancellation: cancellation, idleTimeout: request.idleTimeout)
        let context = Unmanaged.passRetained(state)
        defer { context.release() }
        let pointer = context.toOpaque()

        let h = handle
        var results: [(String, CURLcode)] = [
            ("NOSIGNAL", baton_curl_easy_setopt_long(h, CURLOPT_NOSIGNAL, 1)),
            ("URL", baton_curl_easy_setopt_string(h, CURLOPT_URL, request.url)),
            ("PROTOCOLS", baton_curl_easy_restrict_to_http(h)),
            ("FOLLOWLOCATION", baton_curl_easy_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)),
            ("CONNECTTIMEOUT_MS", baton_curl_easy_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 10_000)),
            ("TIMEOUT_MS", baton_curl_easy_setopt_long(h, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds)),
            ("USERAGENT", baton_curl_easy_setopt_string(h, CURLOPT_USERAGENT, "baton-cli")),
            ("HTTPHEADER", baton_curl_easy_setopt_slist(h, CURLOPT_HTTPHEADER, headers)),
            ("ERRORBUFFER", baton_curl_easy_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)),
            ("WRITEFUNCTION", baton_curl_easy_setopt_write_callback(h) { data, size, count, context in
                let length = size * count
                guard let state = TransferState.from(context) else { return 0 }
                if let data, length > 0 { state.body(Data(bytes: data, count: length)) }
                return length
            }),
            ("WRITEDATA", baton_curl_easy_setopt_pointer(h, CURLOPT_WRITEDATA, pointer)),
            ("HEADERFUNCTION", baton_curl_easy_setopt_header_callback(h) { data, size, count, context in
                let length = size * count
                guard let state = TransferState.from(context), let data else { return length }
                state.header(String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self))
                return length
            }),
            ("HEADERDATA", baton_curl_easy_setopt_pointer(h, CURLOPT_HEADERDATA, pointer)),
            ("NOPROGRESS", baton_curl_easy_setopt_long(h, CURLOPT_NOPROGRESS, 0)),
            ("XFERINFOFUNCTION", baton_curl_easy_setopt_xferinfo_callback(h) { context, _, _, _, _ in
                TransferState.from(context)?.progress() ?? 1
            }),
            ("XFERINFODATA", baton_curl_easy_setopt_pointer(h, CURLOPT_XFERINFODATA, pointer)),
        ]
        switch request.method {
        case "GET": break
        case "POST": results.append(("POST", baton_curl_easy_setopt_long(h, CURLOPT_POST, 1)))
        default: results.append(("CUSTOMREQUEST", baton_curl_easy_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)))
        }
        if let failed = results.first(where: { $0.1 != CURLE_OK }) {
            return Failure(description: "curl_easy_setopt(CURLOPT_\(failed.0)): \(String(cString: curl_easy_strerror(failed.1)))")
        }

        let code: CURLcode
        if let body = request.body {
            // POSTFIELDS is not copied: the bytes stay put for the whole perform.
            let bytes = [UInt8](body.isEmpty ? Data([0]) : body)
            code = bytes.withUnsafeBytes { raw in
                var set = baton_curl_easy_setopt_off_t(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                if set == CURLE_OK { set = baton_curl_easy_setopt_pointer(h, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress)) }
                return set == CURLE_OK ? curl_easy_perform(h) : set
            }
        } else {
            code = curl_easy_perform(h)
        }
        if code == CURLE_OK {
            if !state.headDelivered {
                var status = 0
                _ = baton_curl_easy_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
                guard status > 0 else { return Failure(description: "no HTTP response") }
                sink.head(GatewayResponse(status: status, headers: state.headers, body: Data()))
            }
            return nil
        }
        if code == CURLE_ABORTED_BY_CALLBACK {
            if state.idle { return Failure(description: "nothing received for \(request.idleTimeout ?? .zero)", timedOut: true) }
            return Failure(description: "cancelled")
        }
        let message = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        return Failure(description: message, timedOut: code == CURLE_OPERATION_TIMEDOUT)
    }
}
