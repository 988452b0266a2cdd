import CNats
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Delivers the messages of a connection's own inboxes, and of the request subjects it serves,
/// on nats.c's reading thread.
///
/// nats.c hands every message from the thread that reads the socket to the subscription's
/// delivery thread (a mutex, a condition variable and a thread wake-up) before any callback
/// runs; for a reply that a task awaits, that is a second thread hop on top of the task's own
/// resumption: ~0.7 futex calls and a context switch per reply, on every request, JetStream
/// publish and KV operation. A route takes the messages under its subject prefix (or of its one
/// subject) on the reading thread instead (through nats.c's message filter, see
/// `CNats/shim.h`), so that the reply resumes its task, or the request starts its own, from there.
///
/// Only for subjects that are this connection's alone (`_INBOX.<nuid>.`, a service's request
/// subject): the filter sees a message before nats.c looks at its subscription's state, so a
/// route must outlive, or end with, the subscription that brings its messages, and no other
/// subscription of the connection may match it (it would not see those messages, and its copies
/// would come to the route). And only for a subscription whose every message carries the routed
/// subject, as request replies and requests do: the filter matches subjects, so a subscription
/// whose messages come under other subjects too (a JetStream pull's messages carry their stream
/// subject, its status messages the inbox) would have them split over two paths and reordered.
/// A route's `deliver` must not block: it runs on the thread that reads for the whole connection.
final class ReaderDelivery: Sendable {
    private struct Route {
        /// The subject's bytes, NUL-terminated for an exact route.
        let bytes: [UInt8]
        let deliver: @Sendable (NATSMessage) -> Void

        init(_ subject: String, exact: Bool, deliver: @escaping @Sendable (NATSMessage) -> Void) {
            self.bytes = Self.bytes(of: subject, exact: exact)
            self.deliver = deliver
        }

        static func bytes(of subject: String, exact: Bool) -> [UInt8] {
            Array(subject.utf8) + (exact ? [0] : [])
        }

        /// True when `subject` is this route's subject (exact) or starts with its prefix.
        func matches(_ subject: UnsafePointer<CChar>) -> Bool {
            bytes.withUnsafeBufferPointer { bytes in
                // With the terminating NUL in `bytes`, strncmp compares whole strings.
                strncmp(subject, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self), bytes.count) == 0
            }
        }
    }

    private let routes = Mutex<[Route]>([])
    private let active = Atomic<Bool>(false)

    init() {}

    /// Installs the filter on `connection` (a `natsConnection*`); false when this libnats has
    /// no message filter, and every message goes through its subscription's delivery thread as
    /// it would without routes. The caller keeps this object alive until the connection is
    /// closed (nats.c joins its reading thread on close).
    func install(on connection: OpaquePointer) -> Bool {
        let installed = baton_natsConn_setFilter(connection, readerDeliveryFilter, Unmanaged.passUnretained(self).toOpaque())
        active.store(installed, ordering: .releasing)
        return installed
    }

    /// True when the messages of a route are delivered on the reading thread.
    var isActive: Bool { active.load(ordering: .acquiring) }

    /// Delivers messages whose subject is `subject` (`exact`) or starts with it to `deliver`, on
    /// the reading thread. Returns false (nothing routed) when the filter is not installed.
    @discardableResult
    func route(_ subject: String, exact: Bool, to deliver: @escaping @Sendable (NATSMessage) -> Void) -> Bool {
        guard isActive else { return false }
        routes.withLock { $0.append(Route(subject, exact: exact, deliver: deliver)) }
        return true
    }

    /// Stops routing `subject`: its messages go through their subscription again.
    func removeRoute(_ subject: String, exact: Bool) {
        let bytes = Route.bytes(of: subject, exact: exact)
        routes.withLock { $0.removeAll { $0.bytes == bytes } }
    }

    /// The route that `subject` (a C string) matches.
    fileprivate func deliverer(for subject: UnsafePointer<CChar>) -> (@Sendable (NATSMessage) -> Void)? {
        routes.withLock { routes in routes.first { $0.matches(subject) }?.deliver }
    }
}

/// nats.c's message filter (reading thread): a message under a route's prefix is copied into
/// Swift, destroyed, taken from nats.c (`*msg = NULL`) and delivered; any other is left alone.
private let readerDeliveryFilter: baton_natsMsgFilter = { _, msgPointer, closure in
    guard let msgPointer, let msg = msgPointer.pointee, let closure, let subject = natsMsg_GetSubject(msg) else { return }
    let delivery = Unmanaged<ReaderDelivery>.fromOpaque(closure).takeUnretainedValue()
    guard let deliver = delivery.deliverer(for: subject) else { return }
    let message = NATSMessage(copying: msg)
    natsMsg_Destroy(msg)
    msgPointer.pointee = nil
    deliver(message)
}

/// A subscription whose messages go to a callback: on nats.c's reading thread where the library
/// allows it (`ReaderDelivery`), else on the subscription's delivery thread.
public final class DirectSubscription: Sendable {
    private let handle: SubscriptionHandle
    private let delivery: ReaderDelivery
    private let subject: String
    private let exact: Bool

    fileprivate init(handle: SubscriptionHandle, delivery: ReaderDelivery, subject: String, exact: Bool) {
        self.handle = handle
        self.delivery = delivery
        self.subject = subject
        self.exact = exact
    }

    /// Messages nats.c handed to the subscription's delivery thread (not taken on the reading
    /// thread).
    var deliveredThroughSubscription: Int {
        var delivered: Int64 = 0
        return natsSubscription_GetDelivered(handle.pointer, &delivered) == NATS_OK ? Int(delivered) : -1
    }

    /// Removes interest at once; messages already on their way are dropped, and the
    /// subscription's `onComplete` runs.
    public func unsubscribe() {
        delivery.removeRoute(subject, exact: exact)
        handle.unsubscribe()
    }

    /// Stops new messages and delivers those on their way (through the subscription, to the
    /// same callback), then runs `onComplete`.
    public func drain() {
        delivery.removeRoute(subject, exact: exact)
        _ = natsSubscription_Drain(handle.pointer)
    }
}

extension NATSConnection {
    /// Subscribes to `inbox.*`, where `inbox` is a fresh `makeInbox()` that only this
    /// connection uses and whose messages all come under it (request replies, not a JetStream
    /// pull's: see `ReaderDelivery`), handing each message to `onMessage` — on the reading
    /// thread when possible: keep it short and non-blocking (yield to a stream, resume a
    /// continuation). `onComplete` runs once no message will come any more.
    func subscribe(
        inbox: String, onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void = {}
    ) throws -> DirectSubscription {
        try subscribe(routing: inbox + ".", exact: false, wildcard: inbox + ".*", queue: nil, onMessage: onMessage, onComplete: onComplete)
    }

    /// Subscribes to `subject` (no wildcards), optionally in a queue group, handing each message
    /// to `onMessage` on nats.c's reading thread where the library allows it: one thread hop
    /// fewer than a subscription's delivery thread, for a server that takes requests. Keep
    /// `onMessage` short and non-blocking (start a task, yield to a buffer): it runs on the
    /// thread that reads for the whole connection. No other subscription of this connection may
    /// take `subject` (its copies of the messages would come here too). `onComplete` runs once
    /// no message will come any more (after `drain` or `unsubscribe`).
    public func subscribe(
        direct subject: String, queue: String?,
        onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void = {}
    ) throws -> DirectSubscription {
        precondition(!subject.contains("*") && !subject.hasSuffix(">"), "a direct subscription takes one subject, not a wildcard")
        return try subscribe(routing: subject, exact: true, wildcard: subject, queue: queue, onMessage: onMessage, onComplete: onComplete)
    }

    private func subscribe(
        routing subject: String, exact: Bool, wildcard: String, queue: String?,
        onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void
    ) throws -> DirectSubscription {
        handle.delivery.route(subject, exact: exact, to: onMessage)
        do {
            let subscription = try subscribe(to: wildcard, queue: queue, onMessage: onMessage, onComplete: onComplete)
            return DirectSubscription(handle: subscription, delivery: handle.delivery, subject: subject, exact: exact)
        } catch {
            handle.delivery.removeRoute(subject, exact: exact)
            throw error
        }
    }
}
