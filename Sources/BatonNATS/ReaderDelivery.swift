import CNats
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Delivers the messages of a connection's own inboxes, of the request subjects it serves and
/// of the JetStream pulls it makes, on nats.c's reading thread.
///
/// nats.c hands every message from the thread that reads the socket to the subscription's
/// delivery thread (a mutex, a condition variable and a thread wake-up) before any callback
/// runs; for a reply that a task awaits, that is a second thread hop on top of the task's own
/// resumption: ~0.7 futex calls and a context switch per reply, on every request, JetStream
/// publish and KV operation. A route takes the messages under its subject prefix (or of its one
/// subject, or whose reply subject starts with its prefix) on the reading thread instead (through nats.c's message filter, see
/// `CNats/shim.h`), so that the reply resumes its task, or the request starts its own, from there.
///
/// Only for messages that are this connection's alone (`_INBOX.<nuid>.`, a service's request
/// subject, the acks of a pull consumer it alone pulls from): the filter sees a message before
/// nats.c looks at its subscription's state, so a route must outlive, or end with, the
/// subscription that brings its messages, and no other subscription of the connection may match
/// it (it would not see those messages, and its copies would come to the route). And every
/// message of a subscription must match one of its routes, or none may: a subscription whose
/// messages went two paths would have them reordered. A JetStream pull's messages carry their
/// stream subject, its status messages the inbox: its routes are the inbox (subject prefix) and
/// the consumers' ack subjects (reply prefix), installed together (`route(_:to:)`).
/// A route's `deliver` must not block: it runs on the thread that reads for the whole connection.
final class ReaderDelivery: Sendable {
    /// What a route matches: a message's subject or its reply subject, by prefix or whole.
    struct Key: Equatable, Sendable {
        enum Field: Sendable { case subject, reply }
        let field: Field
        /// The bytes compared, NUL-terminated for a whole subject.
        let bytes: [UInt8]

        /// Messages whose subject is `subject` (`exact`) or starts with it.
        static func subject(_ subject: String, exact: Bool) -> Key {
            Key(field: .subject, bytes: Array(subject.utf8) + (exact ? [0] : []))
        }

        /// Messages whose reply subject starts with `prefix`.
        static func reply(prefix: String) -> Key {
            Key(field: .reply, bytes: Array(prefix.utf8))
        }

        /// True when `string` (a C string) matches.
        func matches(_ string: UnsafePointer<CChar>) -> Bool {
            bytes.withUnsafeBufferPointer { bytes in
                // With the terminating NUL in `bytes`, strncmp compares whole strings.
                strncmp(string, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self), bytes.count) == 0
            }
        }
    }

    private struct Route {
        let key: Key
        /// The subscription's routes share one group: installed and removed together.
        let group: Int
        let deliver: @Sendable (NATSMessage) -> Void
    }

    private struct Routes {
        var all: [Route] = []
        var lastGroup = 0
    }

    private let routes = Mutex(Routes())
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

    /// Delivers the messages that match any of `keys` to `deliver`, on the reading thread;
    /// returns the routes' group, for `removeRoutes`. Nil, routing nothing, when the filter is
    /// not installed — or when another subscription of this connection routes one of the keys
    /// already: its messages and the new subscription's would be told apart by nothing the
    /// filter sees, so that subscription's routes go too, and both take their messages through
    /// their delivery threads. (Dropping routes keeps each subscription's order: the messages a
    /// route took were delivered, on the reading thread, before the next one was read.)
    func route(_ keys: [Key], to deliver: @escaping @Sendable (NATSMessage) -> Void) -> Int? {
        guard isActive else { return nil }
        return routes.withLock { routes in
            let taken = Set(routes.all.filter { keys.contains($0.key) }.map(\.group))
            guard taken.isEmpty else {
                routes.all.removeAll { taken.contains($0.group) }
                return nil
            }
            routes.lastGroup += 1
            let group = routes.lastGroup
            routes.all.append(contentsOf: keys.map { Route(key: $0, group: group, deliver: deliver) })
            return group
        }
    }

    /// Stops routing a group: its messages go through their subscription again.
    func removeRoutes(_ group: Int?) {
        guard let group else { return }
        routes.withLock { $0.all.removeAll { $0.group == group } }
    }

    /// The route that a message with `subject` and `reply` (C strings) matches.
    fileprivate func deliverer(subject: UnsafePointer<CChar>, reply: UnsafePointer<CChar>?) -> (@Sendable (NATSMessage) -> Void)? {
        routes.withLock { routes in
            routes.all.first { route in
                switch route.key.field {
                case .subject: route.key.matches(subject)
                case .reply: reply.map(route.key.matches) ?? false
                }
            }?.deliver
        }
    }
}

/// nats.c's message filter (reading thread): a message that a route matches is copied into
/// Swift, destroyed, taken from nats.c (`*msg = NULL`) and delivered; any other is left alone.
private let readerDeliveryFilter: baton_natsMsgFilter = { _, msgPointer, closure in
    guard let msgPointer, let msg = msgPointer.pointee, let closure, let subject = natsMsg_GetSubject(msg) else { return }
    let delivery = Unmanaged<ReaderDelivery>.fromOpaque(closure).takeUnretainedValue()
    guard let deliver = delivery.deliverer(subject: subject, reply: natsMsg_GetReply(msg)) else { return }
    let message = NATSMessage(copying: msg)
    NATSMessage.destroy(msg)
    msgPointer.pointee = nil
    deliver(message)
}

/// A subscription whose messages go to a callback: on nats.c's reading thread where the library
/// allows it (`ReaderDelivery`), else on the subscription's delivery thread.
public final class DirectSubscription: Sendable {
    private let handle: SubscriptionHandle
    private let delivery: ReaderDelivery
    /// Its routes' group; nil when its messages go through the subscription.
    private let routes: Int?

    fileprivate init(handle: SubscriptionHandle, delivery: ReaderDelivery, routes: Int?) {
        self.handle = handle
        self.delivery = delivery
        self.routes = routes
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
        delivery.removeRoutes(routes)
        handle.unsubscribe()
    }

    /// Stops new messages and delivers those on their way (through the subscription, to the
    /// same callback), then runs `onComplete`.
    public func drain() {
        delivery.removeRoutes(routes)
        _ = natsSubscription_Drain(handle.pointer)
    }
}

extension NATSConnection {
    /// Subscribes to `inbox.*`, where `inbox` is a fresh `makeInbox()` that only this
    /// connection uses and whose messages all come under it (request replies, not a JetStream
    /// pull's: see `subscribe(pullInbox:)`), handing each message to `onMessage` — on the
    /// reading thread when possible: keep it short and non-blocking (yield to a stream, resume a
    /// continuation). `onComplete` runs once no message will come any more.
    func subscribe(
        inbox: String, onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void = {}
    ) throws -> DirectSubscription {
        try subscribe(routing: [.subject(inbox + ".", exact: false)], wildcard: inbox + ".*", queue: nil, onMessage: onMessage, onComplete: onComplete)
    }

    /// Subscribes to `inbox.*` for the replies to JetStream pull requests on `consumers` of
    /// `stream` — the pulled messages (under their stream subjects, acked on
    /// `$JS.ACK.<stream>.<consumer>.…`) and the pulls' status messages (under the inbox) — and
    /// hands them, in the order they came, to `onMessage`: all on the reading thread where the
    /// library allows it and no other subscription of this connection pulls from one of these
    /// consumers, else all through the subscription's delivery thread. Keep `onMessage` short
    /// and non-blocking.
    func subscribe(
        pullInbox inbox: String, stream: String, consumers: [String],
        onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void = {}
    ) throws -> DirectSubscription {
        let routes: [ReaderDelivery.Key] = [.subject(inbox + ".", exact: false)] + consumers.map { .reply(prefix: "$JS.ACK.\(stream).\($0).") }
        return try subscribe(routing: routes, wildcard: inbox + ".*", queue: nil, onMessage: onMessage, onComplete: onComplete)
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
        return try subscribe(routing: [.subject(subject, exact: true)], wildcard: subject, queue: queue, onMessage: onMessage, onComplete: onComplete)
    }

    /// Routes `keys` (all or none) and subscribes; the routes end with the subscription.
    ///
    /// A message that reaches the subscription's delivery thread while its routes are in place
    /// is one the routes do not match (a server writing some other form of ack subject than
    /// nats-server's `$JS.ACK.<stream>.<consumer>.`): the routes are dropped then, so that from
    /// then on everything comes one way, in order. (Until then, a pull's status may overtake its
    /// messages; `PriorityPullState` runs such late messages as capacity allows.)
    private func subscribe(
        routing keys: [ReaderDelivery.Key], wildcard: String, queue: String?,
        onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void
    ) throws -> DirectSubscription {
        let delivery = handle.delivery
        let routes = delivery.route(keys, to: onMessage)
        let routed = RoutedFlag()
        var throughSubscription = onMessage
        if let routes {
            throughSubscription = { message in
                if routed.value.exchange(false, ordering: .relaxed) { delivery.removeRoutes(routes) }
                onMessage(message)
            }
        }
        do {
            let subscription = try subscribe(to: wildcard, queue: queue, onMessage: throughSubscription, onComplete: onComplete)
            return DirectSubscription(handle: subscription, delivery: delivery, routes: routes)
        } catch {
            delivery.removeRoutes(routes)
            throw error
        }
    }
}

/// Whether a subscription's routes are still in place (see `subscribe(routing:)`).
private final class RoutedFlag: Sendable {
    let value = Atomic<Bool>(true)
}
