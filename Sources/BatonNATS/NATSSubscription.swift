import CNats
import Logging
import Synchronization

/// What a nats.c subscription calls back into: retained for as long as nats.c may call it and
/// released in the subscription's on-complete callback (see `NATSConnection.subscribe`).
final class SubscriptionContext: Sendable {
    let onMessage: @Sendable (NATSMessage) -> Void
    let onComplete: @Sendable () -> Void

    init(onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void) {
        self.onMessage = onMessage
        self.onComplete = onComplete
    }
}

/// nats.c message callback: copy the message into Swift, destroy the C message at once, hand
/// the copy on. Runs on the subscription's nats.c delivery thread.
let natsMessageTrampoline: natsMsgHandler = { _, _, msg, closure in
    guard let msg, let closure else { return }
    let message = NATSMessage(copying: msg)
    NATSMessage.destroy(msg)
    Unmanaged<SubscriptionContext>.fromOpaque(closure).takeUnretainedValue().onMessage(message)
}

/// nats.c on-complete callback: the last message has been dispatched; drop our retain.
let natsCompleteTrampoline: natsOnCompleteCB = { closure in
    guard let closure else { return }
    let context = Unmanaged<SubscriptionContext>.fromOpaque(closure).takeRetainedValue()
    context.onComplete()
}

/// A subscription as an `AsyncSequence` of messages.
///
/// The buffer between nats.c's delivery thread and the reader is bounded
/// (`NATSConfiguration.subscriptionBufferLimit`); when the reader falls behind, new messages are
/// dropped, counted in `droppedCount` and logged, never silently lost.
public final class NATSSubscription: AsyncSequence, Sendable {
    public typealias Element = NATSMessage

    private let handle: SubscriptionHandle
    private let stream: AsyncStream<NATSMessage>
    private let counter: DroppedCounter
    public let subject: String

    init(handle: SubscriptionHandle, stream: AsyncStream<NATSMessage>, counter: DroppedCounter, subject: String) {
        self.handle = handle
        self.stream = stream
        self.counter = counter
        self.subject = subject
    }

    /// Messages dropped because the reader fell behind.
    public var droppedCount: Int { counter.count }

    public func makeAsyncIterator() -> AsyncStream<NATSMessage>.AsyncIterator {
        stream.makeAsyncIterator()
    }

    /// Removes interest at once; the sequence ends after messages already buffered.
    public func unsubscribe() { handle.unsubscribe() }

    /// Stops new messages, lets those in flight be delivered, then ends the sequence.
    public func drain() {
        _ = natsSubscription_Drain(handle.pointer)
    }
}

/// Owns a `natsSubscription*` and destroys it exactly once.
///
/// `@unchecked Sendable`: nats.c subscription calls are internally locked, and the pointer is
/// immutable here; `natsSubscription_Destroy` runs only in `deinit`, when no Swift code can
/// reach the handle any more (nats.c keeps its own reference while its delivery thread runs).
final class SubscriptionHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    /// Removes interest at once; messages already buffered are still delivered.
    func unsubscribe() { _ = natsSubscription_Unsubscribe(pointer) }

    deinit { natsSubscription_Destroy(pointer) }
}

extension NATSConnection {
    /// Subscribes with a callback that runs on nats.c's delivery thread. Keep it short.
    func subscribe(
        to subject: String, queue: String?,
        onMessage: @escaping @Sendable (NATSMessage) -> Void,
        onComplete: @escaping @Sendable () -> Void
    ) throws -> SubscriptionHandle {
        let context = SubscriptionContext(onMessage: onMessage, onComplete: onComplete)
        let opaque = Unmanaged.passRetained(context).toOpaque()
        var sub: OpaquePointer? = nil
        let status: natsStatus
        if let queue {
            status = natsConnection_QueueSubscribe(&sub, handle.pointer, subject, queue, natsMessageTrampoline, opaque)
        } else {
            status = natsConnection_Subscribe(&sub, handle.pointer, subject, natsMessageTrampoline, opaque)
        }
        guard status == NATS_OK, let sub else {
            Unmanaged<SubscriptionContext>.fromOpaque(opaque).release()
            throw NATSError.fromLastError(status, "subscribe(\(subject))")
        }
        let completeStatus = natsSubscription_SetOnCompleteCB(sub, natsCompleteTrampoline, opaque)
        if completeStatus != NATS_OK {
            // Closed before we could hook completion: nats.c will not call back any more.
            natsSubscription_Destroy(sub)
            Unmanaged<SubscriptionContext>.fromOpaque(opaque).release()
            throw NATSError.fromLastError(completeStatus, "natsSubscription_SetOnCompleteCB(\(subject))")
        }
        // Our own bounded buffer does the limiting; let nats.c hold whatever the socket brings.
        _ = natsSubscription_SetPendingLimits(sub, -1, -1)
        return SubscriptionHandle(sub)
    }

    /// Subscribes to `subject` (wildcards allowed), optionally in a queue group whose members
    /// share the messages.
    public func subscribe(to subject: String, queue: String? = nil, bufferLimit: Int? = nil) throws -> NATSSubscription {
        let limit = bufferLimit ?? configuration.subscriptionBufferLimit
        let (stream, continuation) = AsyncStream.makeStream(of: NATSMessage.self, bufferingPolicy: .bufferingOldest(limit))
        let logger = self.logger
        let sharedDropped = DroppedCounter()
        let handle = try subscribe(
            to: subject, queue: queue,
            onMessage: { message in
                if case .dropped = continuation.yield(message) {
                    let count = sharedDropped.increment()
                    if count == 1 || count.isMultiple(of: 1000) {
                        logger.warning(
                            "slow consumer: subscription buffer full, dropping messages",
                            metadata: ["subject": "\(subject)", "dropped": "\(count)", "limit": "\(limit)"]
                        )
                    }
                }
            },
            onComplete: { continuation.finish() }
        )
        return NATSSubscription(handle: handle, stream: stream, counter: sharedDropped, subject: subject)
    }
}

/// Counts messages dropped by a subscription's full buffer.
final class DroppedCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
    var count: Int { value.load(ordering: .relaxed) }
}
