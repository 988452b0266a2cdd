import Logging
import NIOCore

/// Pulls from several durable consumers of one stream in priority order, with bounded
/// concurrency, without parking a thread.
///
/// `consumers` lists the consumers highest priority first (for Baton: `baton-<service>-high`,
/// `-normal`, `-low`); a single consumer is the plain case (the gateways' webhook dispatcher).
/// The rule (no-wait scans in priority order, anti-starvation, idle long polls per consumer) is
/// `PriorityPullState`'s; this type sends its requests to
/// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with a reply subject per request under one
/// private inbox (`<inbox>.<request id>`), so every status ends exactly its request, and tells
/// deliveries apart by the consumer named in their ack subject.
public struct PriorityPuller: Sendable {
    public let jetStream: JetStream
    public let stream: String
    /// Highest priority first.
    public let consumers: [String]
    /// Expiry of the idle long polls when every consumer has one.
    public var waitExpiry: Duration = .seconds(5)
    /// Expiry of the idle long polls when there are fewer free slots than consumers.
    public var partialWaitExpiry: Duration = .seconds(1)
    /// Which consumers get an idle long poll first when slots are short (indices into
    /// `consumers`; default for three: the middle one, then the first, then the last).
    public var coverOrder: [Int]?

    public init(jetStream: JetStream, stream: String, consumers: [String]) {
        precondition(!consumers.isEmpty)
        self.jetStream = jetStream
        self.stream = stream
        self.consumers = consumers
    }

    /// Runs `handler` for each message, at most `maxInFlight` at once, until the task is
    /// cancelled; then stops pulling and waits for the running handlers.
    ///
    /// Once `draining()` turns true (graceful shutdown) it sends no more pull requests, hands
    /// back (`-NAK`, delayed until its open requests have expired: `handBackDelay`) whatever
    /// they still deliver, lets the running handlers finish, and returns when they have and
    /// every open request has expired — nak'ing while pull requests are open resets delivery
    /// counts on older servers (`ServerCapabilities.keepsDeliveryCountOnNak`); harmless on the
    /// others, so done on all.
    public func run(
        maxInFlight: Int, logger: Logger, draining: @escaping @Sendable () -> Bool = { false },
        handler: @escaping @Sendable (JetStreamMessage) async -> Void
    ) async throws {
        let connection = jetStream.connection
        let inbox = try NATSConnection.makeInbox()
        let (events, eventInput) = AsyncStream.makeStream(of: Event.self)
        let stream = self.stream
        let consumers = self.consumers
        // Pulled messages go straight into the loop's events, from nats.c's reading thread: the
        // pulled ones and the pulls' status messages by the same path, in the order they came
        // (a 404 that overtook its request's messages parked them until a redelivery).
        let subscription = try connection.subscribe(
            pullInbox: inbox, stream: stream, consumers: consumers,
            onMessage: { eventInput.yield(.message($0)) }, onComplete: { eventInput.finish() })
        let levelOf = Dictionary(uniqueKeysWithValues: consumers.enumerated().map { (Substring($0.element), $0.offset) })
        let initial: PriorityPullState = {
            var state = PriorityPullState(capacity: max(1, maxInFlight), levels: consumers.count, coverOrder: coverOrder)
            state.waitExpiry = waitExpiry
            state.partialWaitExpiry = partialWaitExpiry
            return state
        }()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    eventInput.yield(.tick)
                }
            }
            group.addTask {
                await withTaskCancellationHandler {
                    // Discarding: a finished handler's task is freed at once. A plain task group
                    // keeps every finished child until `next()` collects it, and this loop never
                    // asks: a worker grew by ~27 KB per job it ran (task objects and their
                    // allocator slabs), 170 MB a minute at full speed, until it restarted.
                    await withDiscardingTaskGroup { handlers in
                        var state = initial
                        var waiting: [JetStreamMessage] = []  // parked: delivered beyond the capacity
                        func start(_ message: JetStreamMessage) {
                            handlers.addTask {
                                await handler(message)
                                eventInput.yield(.finished)
                            }
                        }
                        func send(_ pulls: [PriorityPullState.Pull]) {
                            for pull in pulls {
                                let body: String
                                switch pull.mode {
                                case .noWait: body = "{\"batch\":\(pull.batch),\"no_wait\":true}"
                                case .wait(let expires): body = "{\"batch\":\(pull.batch),\"expires\":\(expires.nanoseconds)}"
                                }
                                do {
                                    try connection.publish(
                                        ByteBuffer(string: body), to: "$JS.API.CONSUMER.MSG.NEXT.\(stream).\(consumers[pull.level])",
                                        replyTo: "\(inbox).\(pull.id)")
                                } catch {
                                    logger.debug("pull request not sent", metadata: ["consumer": "\(consumers[pull.level])", "error": "\(error)"])
                                    state.sendFailed(id: pull.id, now: .now)
                                }
                            }
                        }
                        send(state.nextPulls(now: .now))
                        for await event in events {
                            if Task.isCancelled { break }
                            if draining() {
                                // Graceful shutdown: no new work; leave when the handlers are
                                // done and no pull request is open any more.
                                if case .message(let message) = event, message.status == nil,
                                    let jsMessage = JetStreamMessage(message, connection: connection)
                                {
                                    try? jsMessage.nak(delay: state.handBackDelay(now: .now))
                                    continue
                                }
                                if case .message(let message) = event, let status = message.status,
                                    let id = message.subject.split(separator: ".").last.flatMap({ UInt64($0) })
                                {
                                    _ = state.ended(id: id, status: status, now: .now)
                                }
                                if case .finished = event { _ = state.handlerFinished() }
                                if case .tick = event { _ = state.expire(now: .now) }
                                for message in waiting { try? message.nak(delay: state.handBackDelay(now: .now)) }
                                waiting.removeAll()
                                if state.running == 0, state.openRequests == 0 { break }
                                continue
                            }
                            switch event {
                            case .message(let message):
                                if let status = message.status {
                                    let id = message.subject.split(separator: ".").last.flatMap { UInt64($0) }
                                    if let id, let level = state.ended(id: id, status: status, now: .now), status == 409 || status == 503 {
                                        logger.warning("pull request refused", metadata: [
                                            "consumer": "\(consumers[level])", "status": "\(status)",
                                            "reason": "\(message.statusDescription ?? "")",
                                        ])
                                    }
                                } else if let reply = message.replyTo, let ack = AckSubject(reply) {
                                    let jsMessage = JetStreamMessage(message, ack: ack, connection: connection)
                                    let level = levelOf[ack.consumer]
                                    if state.received(level: level, pending: jsMessage.pending) {
                                        start(jsMessage)
                                    } else {
                                        waiting.append(jsMessage)
                                    }
                                }
                            case .finished:
                                if state.handlerFinished(), !waiting.isEmpty { start(waiting.removeFirst()) }
                            case .tick:
                                if state.expire(now: .now) > 0 {
                                    logger.debug("pull request unanswered; forgotten")
                                }
                            }
                            send(state.nextPulls(now: .now))
                        }
                        subscription.unsubscribe()
                        // Never started: hand them back at once.
                        for message in waiting { try? message.nak() }
                        // The group's end waits for the handlers still running.
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
