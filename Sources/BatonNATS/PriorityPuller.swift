import Logging
import NIOCore

/// Pulls from several durable consumers of one stream in priority order, with bounded
/// concurrency, without parking a thread.
///
/// `consumers` lists the consumers highest priority first (for Baton: `baton-<service>-high`,
/// `-normal`, `-low`); a single consumer is the plain case (the gateways' webhook dispatcher).
/// The rule (no-wait scans in priority order, anti-starvation, idle long polls per consumer) is
/// `PriorityPullState`'s, driven by `PullDriver`, which sends the requests to
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
        var initial = PriorityPullState(capacity: max(1, maxInFlight), levels: consumers.count, coverOrder: coverOrder)
        initial.waitExpiry = waitExpiry
        initial.partialWaitExpiry = partialWaitExpiry
        let driver = PullDriver(
            state: initial, connection: connection, stream: stream, consumers: consumers, inbox: inbox, logger: logger,
            draining: draining, handler: handler)
        // Pulled messages and the pulls' status messages go straight to the driver, from nats.c's
        // reading thread, in the order they came (a 404 that overtook its request's messages
        // parked them until a redelivery).
        let subscription = try connection.subscribe(
            pullInbox: inbox, stream: stream, consumers: consumers,
            onMessage: { driver.receive($0) }, onComplete: { driver.stop(cancellingHandlers: false) })
        driver.start()
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(500))
                        driver.tick()
                    }
                }
                await driver.untilDone()
                group.cancelAll()
            }
        } onCancel: {
            subscription.unsubscribe()
            driver.stop(cancellingHandlers: true)
        }
        subscription.unsubscribe()
    }
}
