import Logging
import NIOCore
import Synchronization

/// Pulls from a durable JetStream consumer with bounded concurrency, without parking a thread.
///
/// It keeps exactly `maxInFlight - running` messages requested: pull requests go to
/// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with a private inbox as reply subject; the
/// server answers with messages, and ends each request with a status (408 when it expired,
/// carrying the number it did not fill). Requests are tracked first-in first-out with a local
/// deadline as well, so a status lost in a reconnect cannot stall the loop.
public struct PullConsumer: Sendable {
    public let jetStream: JetStream
    public let stream: String
    public let consumer: String
    /// How long one pull request waits on the server for messages.
    public var requestExpiry: Duration = .seconds(10)

    public init(jetStream: JetStream, stream: String, consumer: String) {
        self.jetStream = jetStream
        self.stream = stream
        self.consumer = consumer
    }

    /// Runs `handler` for each message, at most `maxInFlight` at once, until the task is
    /// cancelled; then stops pulling and waits for the running handlers.
    public func run(
        maxInFlight: Int, logger: Logger,
        handler: @escaping @Sendable (JetStreamMessage) async -> Void
    ) async throws {
        let connection = jetStream.connection
        let replySubject = try NATSConnection.makeInbox()
        let (events, eventInput) = AsyncStream.makeStream(of: Event.self)
        let subscription = try connection.subscribe(to: replySubject, bufferLimit: 1 << 20)
        let pullSubject = "$JS.API.CONSUMER.MSG.NEXT.\(stream).\(consumer)"
        let expiry = requestExpiry

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in subscription { eventInput.yield(.message(message)) }
                eventInput.finish()
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    eventInput.yield(.tick)
                }
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withTaskGroup(of: Void.self) { handlers in
                        var state = PullState(maxInFlight: maxInFlight)
                        for await event in events {
                            if Task.isCancelled { break }
                            switch event {
                            case .message(let message):
                                if let status = message.status {
                                    state.ended(status: status, pending: message.headers["Nats-Pending-Messages"].flatMap(Int.init))
                                    if status == 409 {
                                        logger.warning("pull request refused", metadata: ["consumer": "\(consumer)", "reason": "\(message.statusDescription ?? "")"])
                                    }
                                } else if let jsMessage = JetStreamMessage(message, connection: connection) {
                                    state.received()
                                    handlers.addTask {
                                        await handler(jsMessage)
                                        eventInput.yield(.finished)
                                    }
                                }
                            case .finished:
                                state.handlerFinished()
                            case .tick:
                                state.expire(now: .now)
                            }
                            if let batch = state.nextRequest() {
                                let body = "{\"batch\":\(batch),\"expires\":\(expiry.nanoseconds)}"
                                do {
                                    try connection.publish(ByteBuffer(string: body), to: pullSubject, replyTo: replySubject)
                                    state.requested(batch, deadline: .now.advanced(by: expiry + .seconds(2)))
                                } catch {
                                    logger.debug("pull request not sent", metadata: ["error": "\(error)"])
                                }
                            }
                        }
                        subscription.unsubscribe()
                        await handlers.waitForAll()
                    }
                } onCancel: {
                    subscription.unsubscribe()
                    eventInput.finish()
                }
            }
            // The pull loop ends on cancellation; then stop the helpers too.
            try await group.next()
            group.cancelAll()
        }
    }

    private enum Event: Sendable {
        case message(NATSMessage)
        case finished
        case tick
    }
}

/// The bookkeeping of a pull loop: how many messages run, and which requests are open.
struct PullState {
    let maxInFlight: Int
    private(set) var running = 0
    private var requests: [(remaining: Int, deadline: ContinuousClock.Instant)] = []

    init(maxInFlight: Int) { self.maxInFlight = maxInFlight }

    var outstanding: Int { requests.reduce(0) { $0 + $1.remaining } }

    var openRequests: Int { requests.count }

    /// How many more messages to ask for.
    var deficit: Int { maxInFlight - running - outstanding }

    /// Open pull requests at most; the server refuses more than its max-waiting (512) anyway.
    static let maxOpenRequests = 4

    /// The batch of the next pull request, if one should go out now. Requests are coalesced:
    /// a new one goes out when none is open, or when a quarter of the capacity is free, so a
    /// busy worker does not flood the server with one-message requests.
    func nextRequest() -> Int? {
        let deficit = self.deficit
        guard deficit > 0 else { return nil }
        if requests.isEmpty { return deficit }
        guard requests.count < Self.maxOpenRequests, deficit >= max(1, maxInFlight / 4) else { return nil }
        return deficit
    }

    mutating func requested(_ batch: Int, deadline: ContinuousClock.Instant) {
        requests.append((batch, deadline))
    }

    mutating func received() {
        running += 1
        guard !requests.isEmpty else { return }
        requests[0].remaining -= 1
        if requests[0].remaining <= 0 { requests.removeFirst() }
    }

    mutating func handlerFinished() { running -= 1 }

    /// A status ended the oldest open request (408 expired, 404 nothing, 409 refused).
    mutating func ended(status: Int, pending _: Int?) {
        guard status != 100, !requests.isEmpty else { return }  // 100: idle heartbeat
        requests.removeFirst()
    }

    mutating func expire(now: ContinuousClock.Instant) {
        requests.removeAll { $0.deadline < now }
    }
}
