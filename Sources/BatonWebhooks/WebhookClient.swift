import CCurl
import NIOPosix
import Synchronization

/// Posts webhook deliveries with libcurl, off the NIO event loops.
///
/// How it drives libcurl: each `post` runs one blocking `curl_easy_perform` on a thread of the
/// client's own `NIOThreadPool` (`maxConcurrent` threads, so at most that many deliveries are in
/// flight; more wait in the pool's queue). The easy handles live in a pool of at most
/// `maxConcurrent` handles and are reused (reset between transfers, which keeps their
/// connections), so deliveries to the same host keep their connections alive.
///
/// Every transfer: CURLOPT_NOSIGNAL, http and https only, no redirects followed
/// (CURLOPT_FOLLOWLOCATION 0, a 3xx is returned as is), no proxy, the connect and total timeouts,
/// the response body read and discarded (the transfer stops after 64 KiB of it), User-Agent
/// "baton-webhooks/1", no "Expect: 100-continue", and "Content-Type: application/json" unless
/// the headers name another. The target's host is pinned to `target.addresses` (CURLOPT_RESOLVE)
/// and sockets are opened only to those addresses (CURLOPT_OPENSOCKETFUNCTION), so a target must
/// come from `WebhookPolicy.resolve` (or be an IP literal from `checkSyntax`).
/// Cancelling the calling task aborts the transfer (within about a second).
///
/// curl_global_init runs exactly once per process, when the first client is made.
/// Call `shutdown()` when done.
public final class WebhookClient: Sendable {
    private let threadPool: NIOThreadPool
    private let handles: CurlHandlePool
    private let connectTimeout: Duration
    private let totalTimeout: Duration
    private let isShutDown = Atomic<Bool>(false)

    /// - Parameters:
    ///   - maxConcurrent: the most deliveries in flight at once (threads and easy handles).
    ///   - connectTimeout: the longest a connection may take to establish (CURLOPT_CONNECTTIMEOUT_MS).
    ///   - totalTimeout: the longest one delivery may take in all (CURLOPT_TIMEOUT_MS).
    public init(maxConcurrent: Int = 16, connectTimeout: Duration = .seconds(5), totalTimeout: Duration = .seconds(15)) {
        _ = CurlGlobal.isInitialized
        let threads = max(1, maxConcurrent)
        threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
        handles = CurlHandlePool(capacity: threads)
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
    }

    deinit {
        // A client dropped without shutdown(): let its threads finish (NIOThreadPool insists).
        if !isShutDown.load(ordering: .acquiring) { threadPool.shutdownGracefully { _ in } }
    }

    /// POSTs `body` with `headers` (e.g. `WebhookSigner.headers`) to `target`.
    /// Never throws: every failure is a response with `error` set and `status` nil.
    public func post(to target: WebhookTarget, headers: [(name: String, value: String)], body: [UInt8]) async -> WebhookResponse {
        guard CurlGlobal.isInitialized else { return .failure("curl_global_init failed") }
        guard !isShutDown.load(ordering: .acquiring) else { return .failure("webhook client is shut down") }
        let request: CurlRequest
        do {
            request = try makeRequest(target: target, headers: headers, body: body)
        } catch {
            return .failure(error.description)
        }
        let cancellation = CancellationFlag()
        let handles = self.handles
        do {
            return try await withTaskCancellationHandler {
                try await threadPool.runIfActive {
                    guard let easy = handles.checkOut() else { return WebhookResponse.failure("curl_easy_init failed") }
                    defer { handles.checkIn(easy) }
                    return easy.perform(request, cancellation: cancellation)
                }
            } onCancel: {
                cancellation.cancel()
            }
        } catch is CancellationError {
            return .failure("cancelled")
        } catch {
            return .failure(isShutDown.load(ordering: .acquiring) ? "webhook client is shut down" : "\(error)")
        }
    }

    /// Waits for the deliveries in flight, stops the threads and closes the connections.
    /// Later `post` calls fail at once.
    public func shutdown() async {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? await threadPool.shutdownGracefully()
        handles.close()
    }

    private func makeRequest(target: WebhookTarget, headers: [(name: String, value: String)], body: [UInt8]) throws(ClientError) -> CurlRequest {
        let addresses = target.addresses.compactMap(IPAddress.init)
        guard !addresses.isEmpty, addresses.count == target.addresses.count else {
            throw ClientError("target \(target.host) has no resolved addresses: use WebhookPolicy.resolve")
        }
        var lines: [String] = []
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else { throw ClientError("invalid header name \"\(name)\"") }
            guard value.utf8.allSatisfy({ $0 != 0x0d && $0 != 0x0a && $0 != 0 }) else { throw ClientError("invalid value for header \(name)") }
            // "Name:" would remove a header in libcurl; "Name;" sends it empty.
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        if !headers.contains(where: { $0.name.lowercased() == "content-type" }) { lines.append("Content-Type: application/json") }
        // Without this, libcurl 7.x waits up to a second for "100 Continue" on bodies over 1 KiB.
        lines.append("Expect:")
        let isLiteral = IPAddress(target.host) != nil
        let pinned = addresses.map { $0.isIPv4 ? $0.description : "[\($0)]" }.joined(separator: ",")
        return CurlRequest(
            url: target.url,
            resolveEntry: isLiteral ? nil : "\(target.host):\(target.port):\(pinned)",
            addresses: addresses,
            headerLines: lines,
            body: body,
            connectTimeoutMilliseconds: Self.milliseconds(connectTimeout),
            totalTimeoutMilliseconds: Self.milliseconds(totalTimeout)
        )
    }

    /// At least 1 ms (0 means "no timeout" to libcurl).
    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let total = seconds.multipliedReportingOverflow(by: 1000)
        guard !total.overflow else { return Int.max }
        return Int(max(1, total.partialValue + attoseconds / 1_000_000_000_000_000))
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

struct ClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// curl_global_init, exactly once per process (a Swift global is initialized once, thread-safely).
enum CurlGlobal {
    static let isInitialized: Bool = baton_curl_global_init() == CURLE_OK
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
