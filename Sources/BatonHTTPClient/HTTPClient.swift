import CCurl
import NIOPosix
import Synchronization

/// HTTP over libcurl, off the NIO event loops and off Swift's cooperative pool: the one
/// transport of the webhook sender and of the `baton` client commands.
///
/// How it drives libcurl: each transfer is one blocking `curl_easy_perform` on a thread of the
/// client's own `NIOThreadPool` (`maxConcurrent` threads, so at most that many transfers are in
/// flight; more wait in the pool's queue). The easy handles live in a pool of at most
/// `maxConcurrent` handles and are reused (reset between transfers, which keeps their
/// connections), so requests to the same host keep their connections alive. A waiting transfer
/// sleeps in poll(2).
///
/// Not URLSession: on Linux (swift-corelibs-foundation over libcurl) a URLSession request spins
/// a CPU core for as long as it waits for the answer (the write-readiness DispatchSource it
/// creates while connecting is never cancelled when libcurl asks for read readiness only, so it
/// fires continuously), which long-polls and event streams would pay for their whole life.
///
/// Every transfer: CURLOPT_NOSIGNAL, http and https only, no redirects followed (a 3xx is
/// returned as is), the request's connect and total timeouts, and no "Expect: 100-continue".
/// Cancelling the calling task (`perform`, `send`) or the `Transfer` (`start`) aborts the
/// transfer within about a second.
///
/// curl_global_init runs exactly once per process, when the first client is made.
/// Call `shutdown()` when done (a process-wide client may live as long as the process).
public final class HTTPClient: Sendable {
    private let threadPool: NIOThreadPool
    private let handles: CurlHandlePool
    private let shutDown = Atomic<Bool>(false)

    /// - Parameter maxConcurrent: the most transfers in flight at once (threads and easy handles).
    public init(maxConcurrent: Int = 16) {
        _ = CurlGlobal.isInitialized
        let threads = max(1, maxConcurrent)
        threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
        handles = CurlHandlePool(capacity: threads)
    }

    deinit {
        // A client dropped without shutdown(): let its threads finish (NIOThreadPool insists).
        if !isShutDown { threadPool.shutdownGracefully { _ in } }
    }

    /// Whether `shutdown()` was called: later requests fail with `.shutDown`.
    public var isShutDown: Bool { shutDown.load(ordering: .acquiring) }

    /// One transfer; the response goes to `sink` (on the transfer's thread) as it arrives.
    /// Never throws: every failure is an outcome with a `HTTPClientError`.
    public func perform(_ request: Request, sink: Sink = .discard) async -> Outcome {
        let transfer = Transfer()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                enqueue(request, sink: sink, transfer: transfer) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            transfer.cancel()
        }
    }

    /// One transfer, the whole answer.
    public func send(_ request: Request) async throws(HTTPClientError) -> Response {
        let body = Mutex<[UInt8]>([])
        let sink = Sink(head: { _ in }, body: { chunk in body.withLock { $0.append(contentsOf: chunk) } })
        let outcome = await perform(request, sink: sink)
        let head = try outcome.result.get()
        return Response(head: head, body: body.withLock { $0 }, duration: outcome.duration)
    }

    /// Starts a transfer without waiting for it (streams: the caller hands the sink's parts on
    /// as they arrive); `completion` gets the outcome on the transfer's thread, after the sink's
    /// last call. Cancel the returned `Transfer` to stop it early.
    @discardableResult
    public func start(_ request: Request, sink: Sink, completion: @escaping @Sendable (Outcome) -> Void) -> Transfer {
        let transfer = Transfer()
        enqueue(request, sink: sink, transfer: transfer, completion: completion)
        return transfer
    }

    /// Waits for the transfers in flight, stops the threads and closes the connections (the
    /// idle handles are cleaned up on a thread of the pool: curl_easy_cleanup may block).
    /// Later requests fail at once.
    public func shutdown() async {
        guard !shutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let handles = self.handles
        try? await threadPool.runIfActive { handles.close() }
        try? await threadPool.shutdownGracefully()
        handles.close()  // Should the pool have refused the work above: nothing is left to clean.
    }

    private static let shutDownText = "HTTP client is shut down"

    /// Runs the transfer on a thread of the pool (one cancelled while it waited for a thread
    /// ends at once), or fails it at once when it cannot run.
    private func enqueue(_ request: Request, sink: Sink, transfer: Transfer, completion: @escaping @Sendable (Outcome) -> Void) {
        guard CurlGlobal.isInitialized else { return completion(.failure(.transfer, "curl_global_init failed")) }
        guard !isShutDown else { return completion(.failure(.shutDown, Self.shutDownText)) }
        let handles = self.handles
        threadPool.submit { state in
            guard case .active = state else { return completion(.failure(.shutDown, Self.shutDownText)) }
            guard let easy = handles.checkOut() else { return completion(.failure(.transfer, "curl_easy_init failed")) }
            let outcome = easy.perform(request, sink: sink, transfer: transfer)
            handles.checkIn(easy)
            completion(outcome)
        }
    }

    /// At least 1 ms (0 means "no timeout" to libcurl).
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let total = seconds.multipliedReportingOverflow(by: 1000)
        guard !total.overflow else { return Int.max }
        return Int(max(1, total.partialValue + attoseconds / 1_000_000_000_000_000))
    }
}

/// curl_global_init, exactly once per process (a Swift global is initialized once, thread-safely).
enum CurlGlobal {
    static let isInitialized: Bool = baton_curl_global_init() == CURLE_OK
}
