import CNats
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A connection to NATS over nats.c, with an async/await face.
///
/// Publishing is a short, non-blocking nats.c call (with `sendAsap` it writes to the socket
/// buffer, or to nats.c's pending buffer while reconnecting), so it runs inline. Requests never
/// park a thread: they publish with a reply subject under the connection's one wildcard inbox
/// subscription and resume a continuation (`ReplyInbox`). The few calls that do block (connect,
/// flush, JetStream admin) run on `blockingPool`, never on a NIO event loop or the cooperative pool.
public final class NATSConnection: Sendable {
    let handle: ConnectionHandle
    public let configuration: NATSConfiguration
    let logger: Logger
    let blockingPool: NIOThreadPool
    let inbox: ReplyInbox
    private let inboxSubscription: Mutex<DirectSubscription?>
    private let events: ConnectionEvents

    private init(
        handle: ConnectionHandle, configuration: NATSConfiguration, logger: Logger,
        blockingPool: NIOThreadPool, events: ConnectionEvents, inboxPrefix: String
    ) {
        self.handle = handle
        self.configuration = configuration
        self.logger = logger
        self.blockingPool = blockingPool
        self.events = events
        self.inbox = ReplyInbox(prefix: inboxPrefix)
        self.inboxSubscription = Mutex(nil)
    }

    /// Connects to the first reachable server of `configuration.servers`, retrying with backoff
    /// until `configuration.connectTimeout`; afterwards the connection reconnects forever.
    public static func connect(_ configuration: NATSConfiguration, logger: Logger) async throws -> NATSConnection {
        NATSLibrary.openOnce()
        let pool = NIOThreadPool(numberOfThreads: max(1, configuration.blockingThreads))
        pool.start()
        let events = ConnectionEvents(logger: logger, configuration: configuration)
        do {
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: configuration.connectTimeout)
            var delay = configuration.reconnectDelay
            while true {
                do {
                    let pointer = try await pool.runIfActive { () throws -> ConnectionPointer in
                        try Self.connectBlocking(configuration, events: events)
                    }
                    let handle = ConnectionHandle(pointer.value, events: events, readerDelivery: configuration.readerDelivery)
                    let inboxPrefix = try Self.newInboxPrefix()
                    let connection = NATSConnection(
                        handle: handle, configuration: configuration, logger: logger,
                        blockingPool: pool, events: events, inboxPrefix: inboxPrefix
                    )
                    try connection.startInbox()
                    logger.info(
                        "connected to NATS",
                        metadata: [
                            "url": "\(connection.connectedURL.map(NATSSecurity.redacting(url:)) ?? "?")",
                            "name": "\(configuration.name)", "security": "\(configuration.security)",
                        ])
                    return connection
                } catch let error as NATSError where clock.now < deadline && !error.isPermanent {
                    logger.info("NATS not reachable yet, retrying", metadata: ["error": "\(error.message)", "in": "\(delay)"])
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, configuration.maxReconnectDelay)
                }
            }
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
    }

    private static func connectBlocking(_ configuration: NATSConfiguration, events: ConnectionEvents) throws -> ConnectionPointer {
        var opts: OpaquePointer? = nil
        try check("natsOptions_Create", natsOptions_Create(&opts))
        defer { natsOptions_Destroy(opts) }
        var cStrings = configuration.servers.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let status = cStrings.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) {
                natsOptions_SetServers(opts, $0, Int32(buffer.count))
            }
        }
        try check("natsOptions_SetServers(\(configuration.redactedServers))", status)
        try check("natsOptions_SetName", natsOptions_SetName(opts, configuration.name))
        try check("natsOptions_SetSendAsap", natsOptions_SetSendAsap(opts, configuration.sendAsap))
        try check("natsOptions_SetMaxReconnect", natsOptions_SetMaxReconnect(opts, -1))
        try check("natsOptions_SetTimeout", natsOptions_SetTimeout(opts, 2_000))
        // Our own buffers bound what a slow reader holds; nats.c should not drop first.
        try check("natsOptions_SetMaxPendingMsgs", natsOptions_SetMaxPendingMsgs(opts, 1 << 20))
        try applySecurity(configuration, to: opts)
        // Retained until nats.c's closed callback, the last one it makes (see `closedTrampoline`).
        let closure = Unmanaged.passRetained(events).toOpaque()
        var handedOver = false
        defer { if !handedOver { Unmanaged<ConnectionEvents>.fromOpaque(closure).release() } }
        try check("natsOptions_SetCustomReconnectDelay", natsOptions_SetCustomReconnectDelay(opts, reconnectDelayTrampoline, closure))
        try check("natsOptions_SetDisconnectedCB", natsOptions_SetDisconnectedCB(opts, disconnectedTrampoline, closure))
        try check("natsOptions_SetReconnectedCB", natsOptions_SetReconnectedCB(opts, reconnectedTrampoline, closure))
        try check("natsOptions_SetClosedCB", natsOptions_SetClosedCB(opts, closedTrampoline, closure))
        try check("natsOptions_SetErrorHandler", natsOptions_SetErrorHandler(opts, errorTrampoline, closure))
        var nc: OpaquePointer? = nil
        var refusedSignatures = 0
        while nc == nil {
            do {
                try check("connect to \(configuration.redactedServers.joined(separator: ","))", natsConnection_Connect(&nc, opts))
            } catch let error as NATSError
                where error.kind == .authorizationFailed && configuration.security.signsNonce
                && NATSLibrary.dropsSomeSignatures && refusedSignatures < NATSLibrary.signatureRetries
            {
                refusedSignatures += 1  // likely nats.c's own defect: a new nonce, a new signature
            } catch let error as NATSError {
                throw explained(error, configuration)
            }
        }
        handedOver = true
        return ConnectionPointer(value: nc!)
    }

    private static func newInboxPrefix() throws -> String {
        try makeInbox() + "."
    }

    /// A new unique inbox subject (`_INBOX.<nuid>`), e.g. for a subscription of its own.
    public static func makeInbox() throws -> String {
        var inbox: UnsafeMutablePointer<CChar>? = nil
        try check("natsInbox_Create", natsInbox_Create(&inbox))
        defer { natsInbox_Destroy(inbox) }
        return String(cString: inbox!)
    }

    /// Subscribes to the reply inbox; its replies come on nats.c's reading thread where the
    /// library allows it (`ReaderDelivery`), else through the subscription.
    private func startInbox() throws {
        let inbox = self.inbox
        let sub = try subscribe(inbox: String(inbox.prefix.dropLast()), onMessage: { inbox.deliver($0) })
        inboxSubscription.withLock { $0 = sub }
    }

    // MARK: - State

    /// True while connected (not while reconnecting, draining or closed).
    public var isConnected: Bool { natsConnection_Status(handle.pointer) == NATS_CONN_STATUS_CONNECTED }

    /// The largest message payload the server accepts.
    public var maxPayload: Int { Int(natsConnection_GetMaxPayload(handle.pointer)) }

    /// Times this connection has reconnected since it was opened.
    public var reconnects: Int { events.reconnectCount }

    public var connectedURL: String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 512) { buffer in
            guard natsConnection_GetConnectedUrl(handle.pointer, buffer.baseAddress, buffer.count) == NATS_OK else { return nil }
            return String(cString: buffer.baseAddress!)
        }
    }

    /// A fresh subject under this connection's inbox, for a reply that `waitForReply` awaits.
    public func makeReplySubject() -> String { inbox.register() }

    // MARK: - Publish

    /// Publishes a message (headers and reply subject included). Does not wait for the server.
    public func publish(_ message: NATSMessage) throws {
        guard message.headers.hasValues else {
            // No headers (acks, heartbeats, pull requests): written straight into nats.c's
            // buffer, with no message to build and free.
            try message.checkSubjects("publish")
            let status = message.payload.withUnsafeReadableBytes { bytes in
                guard let replyTo = message.replyTo else {
                    return natsConnection_Publish(handle.pointer, message.subject, bytes.baseAddress, Int32(bytes.count))
                }
                return natsConnection_PublishRequest(handle.pointer, message.subject, replyTo, bytes.baseAddress, Int32(bytes.count))
            }
            return try check("publish(\(message.subject))", status)
        }
        let msg = try message.makeCMessage()
        defer { NATSMessage.destroy(msg) }
        try check("publish(\(message.subject))", natsConnection_PublishMsg(handle.pointer, msg))
    }

    public func publish(
        _ payload: ByteBuffer, to subject: String, headers: NATSHeaders = [:], replyTo: String? = nil
    ) throws {
        try publish(NATSMessage(subject: subject, replyTo: replyTo, headers: headers, payload: payload))
    }

    /// Waits until the server has processed everything published so far.
    public func flush(timeout: Duration = .seconds(5)) async throws {
        let handle = self.handle
        try await blockingPool.runIfActive { () throws in
            try check("flush", natsConnection_FlushTimeout(handle.pointer, timeout.milliseconds))
        }
    }

    // MARK: - Request / reply

    /// Sends a request and awaits the first reply, without blocking a thread.
    ///
    /// Throws `.noResponders` when nobody subscribes to `subject` (the server says so at once)
    /// and `.timeout` when no reply comes within `timeout`.
    public func request(
        _ payload: ByteBuffer, to subject: String, headers: NATSHeaders = [:], timeout: Duration
    ) async throws -> NATSMessage {
        try await send(payload, to: subject, headers: headers, timeout: timeout).reply()
    }

    /// Sends a request whose reply `SentRequest.reply()` awaits: several requests in flight
    /// from one task, without a child task (and its thread hand-offs) for each.
    public func send(
        _ payload: ByteBuffer, to subject: String, headers: NATSHeaders = [:], timeout: Duration
    ) throws -> SentRequest {
        let replyTo = inbox.register()
        do {
            try publish(NATSMessage(subject: subject, replyTo: replyTo, headers: headers, payload: payload))
        } catch {
            inbox.discard(replyTo)
            throw error
        }
        return SentRequest(connection: self, subject: subject, replyTo: replyTo, timeout: timeout)
    }

    /// Awaits the first message sent to `replySubject` (from `makeReplySubject`), or nil when
    /// `timeout` passes or the task is cancelled. The subject is released, unless
    /// `keepingSubject`.
    ///
    /// - Parameters:
    ///   - interruptible: `interruptWaits()` ends this wait early with nil (a client's wait,
    ///     which a draining gateway answers with `202` at once).
    ///   - keepingSubject: a wait that ends without a reply (timeout, interruption,
    ///     cancellation) leaves the subject registered: a reply that comes later is kept for the
    ///     next wait. One wait then serves a client's call, and a second one, only if the call
    ///     switches to `202`, the rest of the job.
    public func waitForReply(
        on replySubject: String, timeout: Duration, interruptible: Bool = false, keepingSubject: Bool = false
    ) async -> NATSMessage? {
        await inbox.wait(for: replySubject, timeout: timeout, interruptible: interruptible, keep: keepingSubject)
    }

    /// Waits until `timeout` elapses or `interruptWaits()` is called, whichever comes first
    /// (for waits that race a reply arriving elsewhere, such as a fast-lane call's).
    public func waitUntilInterrupted(timeout: Duration) async {
        _ = await inbox.wait(for: inbox.register(), timeout: timeout, interruptible: true)
    }

    /// Ends every interruptible wait now, and every later one at once: a draining gateway.
    public func interruptWaits() { inbox.interrupt() }

    /// True once `interruptWaits()` was called.
    public var waitsInterrupted: Bool { inbox.isInterrupted }

    /// Forgets a reply subject nobody will wait on.
    public func discardReplySubject(_ replySubject: String) { inbox.discard(replySubject) }

    // MARK: - Shutdown

    /// Drains subscriptions and pending publishes, then closes. Call once, from async code.
    public func drainAndClose(timeout: Duration = .seconds(5)) async {
        let handle = self.handle
        _ = try? await blockingPool.runIfActive {
            _ = natsConnection_DrainTimeout(handle.pointer, timeout.milliseconds)
            // Drain completes asynchronously; wait for the close it ends with.
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: timeout + .seconds(1))
            while natsConnection_Status(handle.pointer) != NATS_CONN_STATUS_CLOSED, clock.now < deadline {
                usleep(5_000)
            }
            natsConnection_Close(handle.pointer)
        }
        inbox.cancelAll()
        inboxSubscription.withLock { $0 = nil }
        try? await blockingPool.shutdownGracefully()
    }

    /// Closes at once: buffered publishes not yet sent are lost.
    public func close() async {
        natsConnection_Close(handle.pointer)
        inbox.cancelAll()
        inboxSubscription.withLock { $0 = nil }
        try? await blockingPool.shutdownGracefully()
    }

    /// Releases nats.c's library-wide resources. Call once at process exit, after every
    /// connection is closed, and never from a nats.c callback thread.
    public static func shutdownLibrary(timeout: Duration = .seconds(2)) {
        _ = nats_CloseAndWait(timeout.milliseconds)
    }
}

/// A request on its way (`NATSConnection.send`): await its reply once, or `discard()` it.
public struct SentRequest: Sendable {
    let connection: NATSConnection
    public let subject: String
    let replyTo: String
    let timeout: Duration

    /// The first reply. Throws `.noResponders` when nobody subscribes to the subject and
    /// `.timeout` when no reply comes within the request's timeout (counted from now).
    public func reply() async throws -> NATSMessage {
        try await reply(within: timeout)
    }

    /// The first reply, waiting at most `limit` from now; throws as `reply()` does.
    public func reply(within limit: Duration) async throws -> NATSMessage {
        try outcome(await connection.waitForReply(on: replyTo, timeout: limit), waited: limit).get()
    }

    /// Makes a reply for which `isFailure` holds, or no reply within the request's timeout, end
    /// the wait on `replySubject` (a subject from `makeReplySubject`) with nil too, or end at
    /// once a wait that starts on it later: one task awaits the reply it cares about and learns
    /// of this request's failure in the same wait. `isFailure` runs on nats.c's reading thread.
    public func endsWait(on replySubject: String, when isFailure: @escaping @Sendable (NATSMessage) -> Bool) {
        connection.inbox.watch(replyTo, failureEnds: replySubject, within: timeout, isFailure: isFailure)
    }

    /// Calls `body` once with the reply, or the error `reply()` would throw, where it comes
    /// (nats.c's reading thread for a reply: keep `body` short). For a step that follows the
    /// reply without a task in between, such as the next request of a chain, whose own reply
    /// a task then awaits: one task wake-up for two round trips.
    public func whenReplied(_ body: @escaping @Sendable (Result<NATSMessage, NATSError>) -> Void) {
        connection.inbox.onReply(replyTo, within: timeout) { [self] reply in body(outcome(reply, waited: timeout)) }
    }

    /// What a wait that ended with `reply` (nil: none within `waited`) gives its caller.
    private func outcome(_ reply: NATSMessage?, waited: Duration) -> Result<NATSMessage, NATSError> {
        guard let reply else { return .failure(NATSError(.timeout, "no reply from \(subject) within \(waited)")) }
        if reply.isNoResponders { return .failure(NATSError(.noResponders, "no responders on \(subject)")) }
        return .success(reply)
    }

    /// Forgets the reply: it is not awaited.
    public func discard() { connection.discardReplySubject(replyTo) }
}

/// Carries a `natsConnection*` out of the blocking pool.
/// `@unchecked Sendable`: a freshly connected pointer handed over once, owned by `ConnectionHandle` after.
struct ConnectionPointer: @unchecked Sendable { let value: OpaquePointer }

/// Owns a `natsConnection*`: closed and destroyed exactly once, in `deinit`.
///
/// `@unchecked Sendable`: nats.c connections are internally locked and safe to use from any
/// thread, and the pointer itself never changes.
final class ConnectionHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    /// The reading thread's routes; released after the connection is closed, below.
    let delivery = ReaderDelivery()

    init(_ pointer: OpaquePointer, events _: ConnectionEvents, readerDelivery: Bool) {
        self.pointer = pointer
        if readerDelivery { _ = delivery.install(on: pointer) }
    }

    deinit {
        natsConnection_Close(pointer)
        natsConnection_Destroy(pointer)
    }
}

/// nats.c's process-wide initialisation.
public enum NATSLibrary {
    /// How often nats.c spins on a contended mutex before it sleeps. nats.c's default (2000)
    /// burns CPU that, on a small machine, the thread holding the lock needs: profiles of a
    /// 2-core box showed ~8% of a worker's time in `natsMutex_Lock`. Set before the first
    /// connection (`BATON_NATS_LOCK_SPIN` overrides).
    public static let lockSpinCount: Int64 = {
        if let value = getenv("BATON_NATS_LOCK_SPIN").flatMap({ Int64(String(cString: $0)) }) { return value }
        return 0
    }()

    private static let opened: Void = {
        _ = nats_Open(lockSpinCount)
    }()

    static func openOnce() { _ = opened }

    /// The version of the libnats this process runs on, as `nats_GetVersionNumber` gives it
    /// (major << 16 | minor << 8 | patch).
    static let versionNumber = UInt32(nats_GetVersionNumber())

    /// libnats before 3.8.0 (Debian bookworm has 3.4.1) base64-encodes the signature of the
    /// server's nonce as empty when its first byte is zero, so it sends no `sig` in CONNECT and
    /// the server answers `Authorization Violation`: 1 connect in 256 with an NKey or a
    /// `.creds` file (nats.c 4108c7d, "Fix random authentication error due to missing
    /// signature"). Each connect signs a new nonce, so the connect call is made again on such a
    /// refusal, up to `signatureRetries` times: good credentials then fail 1 start in 256⁴, wrong ones
    /// still fail within a second. A reconnect needs no help: nats.c gives up on a server
    /// only after the same auth error twice in a row (1 in 65,536 reconnects).
    static let dropsSomeSignatures = versionNumber < 0x03_08_00

    /// How many times a connect retries a refused signature on a libnats that `dropsSomeSignatures`.
    static let signatureRetries = 3
}

extension NATSConnection {
    /// The servers this connection knows: those configured and those the cluster announced.
    public var knownServers: [String] {
        var servers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        var count: Int32 = 0
        guard natsConnection_GetServers(handle.pointer, &servers, &count) == NATS_OK, let servers else { return [] }
        defer {
            for i in 0..<Int(count) { free(servers[i]) }
            free(servers)
        }
        return (0..<Int(count)).compactMap { servers[$0].map { String(cString: $0) } }
    }
}
