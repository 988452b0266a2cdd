import CNats
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Delivers the messages of a connection's own inboxes on nats.c's reading thread.
///
/// nats.c hands every message from the thread that reads the socket to the subscription's
/// delivery thread (a mutex, a condition variable and a thread wake-up) before any callback
/// runs; for a reply that a task awaits, that is a second thread hop on top of the task's own
/// resumption: ~0.7 futex calls and a context switch per reply, on every request, JetStream
/// publish and KV operation. A route takes the messages under its subject prefix on the
/// reading thread instead (through nats.c's message filter, see `CNats/shim.h`), so that the
/// reply resumes its task from there.
///
/// Only for prefixes that are this connection's own (`_INBOX.<nuid>.`): the filter sees a
/// message before nats.c looks at its subscription's state, so a route must outlive, or end
/// with, the subscription that brings its messages, and no other subscription of the
/// connection may match the prefix (it would not see those messages). And only for an inbox
/// whose every message carries the inbox's subject, as request replies do: the filter matches
/// subjects, so a subscription whose messages come under other subjects too (a JetStream pull's
/// messages carry their stream subject, its status messages the inbox) would have them split
/// over two paths and reordered. A route's `deliver` must not block: it runs on the thread
/// that reads for the whole connection.
final class ReaderDelivery: Sendable {
    private struct Route {
        let prefix: [UInt8]
        let deliver: @Sendable (NATSMessage) -> Void
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

    /// True when messages under a route's prefix are delivered on the reading thread.
    var isActive: Bool { active.load(ordering: .acquiring) }

    /// Delivers messages whose subject starts with `prefix` to `deliver`, on the reading thread.
    /// Returns false (nothing routed) when the filter is not installed.
    @discardableResult
    func route(prefix: String, to deliver: @escaping @Sendable (NATSMessage) -> Void) -> Bool {
        guard isActive else { return false }
        routes.withLock { $0.append(Route(prefix: Array(prefix.utf8), deliver: deliver)) }
        return true
    }

    /// Stops routing `prefix`: its messages go through their subscription again.
    func removeRoute(prefix: String) {
        let bytes = Array(prefix.utf8)
        routes.withLock { $0.removeAll { $0.prefix == bytes } }
    }

    /// The route whose prefix `subject` (a C string) starts with.
    fileprivate func deliverer(for subject: UnsafePointer<CChar>) -> (@Sendable (NATSMessage) -> Void)? {
        routes.withLock { routes in
            for route in routes {
                let matches = route.prefix.withUnsafeBufferPointer { prefix in
                    strncmp(subject, UnsafeRawPointer(prefix.baseAddress!).assumingMemoryBound(to: CChar.self), prefix.count) == 0
                }
                if matches { return route.deliver }
            }
            return nil
        }
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

/// A subscription to one of the connection's own inboxes (`<inbox>.*`), whose messages go to a
/// callback: on nats.c's reading thread where the library allows it (`ReaderDelivery`), else on
/// the subscription's delivery thread.
final class InboxSubscription: Sendable {
    private let handle: SubscriptionHandle
    private let delivery: ReaderDelivery
    private let prefix: String

    fileprivate init(handle: SubscriptionHandle, delivery: ReaderDelivery, prefix: String) {
        self.handle = handle
        self.delivery = delivery
        self.prefix = prefix
    }

    /// Messages nats.c handed to the subscription's delivery thread (not taken on the reading
    /// thread).
    var deliveredThroughSubscription: Int {
        var delivered: Int64 = 0
        return natsSubscription_GetDelivered(handle.pointer, &delivered) == NATS_OK ? Int(delivered) : -1
    }

    /// Removes interest at once; messages already on their way are dropped, and the
    /// subscription's `onComplete` runs.
    func unsubscribe() {
        delivery.removeRoute(prefix: prefix)
        handle.unsubscribe()
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
    ) throws -> InboxSubscription {
        let prefix = inbox + "."
        handle.delivery.route(prefix: prefix, to: onMessage)
        do {
            let subscription = try subscribe(to: prefix + "*", queue: nil, onMessage: onMessage, onComplete: onComplete)
            return InboxSubscription(handle: subscription, delivery: handle.delivery, prefix: prefix)
        } catch {
            handle.delivery.removeRoute(prefix: prefix)
            throw error
        }
    }
}
