@testable import BatonNATS
import BatonTestSupport
import EmbeddedNATS
import Logging
import NIOCore
import Synchronization
import Testing

/// Replies taken on nats.c's reading thread (`ReaderDelivery`), against the shared nats-server:
/// with it on, an inbox's messages reach their callback without passing through the
/// subscription's delivery thread; with it off, they all do; requests work either way.
@Suite("reader delivery", .timeLimit(.minutes(2)))
struct ReaderDeliveryTests {
    func connect(readerDelivery: Bool) async throws -> NATSConnection {
        let server = try await NATSServerProcess.shared()
        var configuration = NATSConfiguration(servers: [server.url], name: "reader-delivery-tests")
        configuration.readerDelivery = readerDelivery
        var logger = Logger(label: "nats-test")
        logger.logLevel = .warning
        return try await NATSConnection.connect(configuration, logger: logger)
    }

    /// A work-queue stream `<prefix><random>` with one pull consumer `<name>-c` on `<name>.jobs`.
    func makeWorkQueue(_ js: JetStream, prefix: String) async throws -> String {
        let name = "\(prefix)\(UInt32.random(in: 0...UInt32.max))"
        var spec = StreamSpec(name: name, subjects: ["\(name).>"])
        spec.retention = .workQueue
        try await js.ensureStream(spec)
        try await js.ensureConsumer(ConsumerSpec(stream: name, durable: "\(name)-c", filterSubject: "\(name).jobs"))
        return name
    }

    @Test(arguments: [true, false])
    func inboxMessagesReachTheirCallback(readerDelivery: Bool) async throws {
        let connection = try await connect(readerDelivery: readerDelivery)
        defer { Task { await connection.close() } }
        // Debian's libnats 3.4.1 and every release since export the filter.
        #expect(connection.handle.delivery.isActive == readerDelivery)

        let inbox = try NATSConnection.makeInbox()
        let received = Shared<[String]>([])
        let subscription = try connection.subscribe(inbox: inbox, onMessage: { message in
            received.withLock { $0.append(message.string) }
        })
        try await connection.flush()
        for i in 0..<20 { try connection.publish(ByteBuffer(string: "m\(i)"), to: "\(inbox).\(i)") }
        try await connection.flush()
        try await waitUntil(timeout: .seconds(10)) { received.withLock { $0.count } == 20 }
        #expect(Set(received.value) == Set((0..<20).map { "m\($0)" }))
        #expect(subscription.deliveredThroughSubscription == (readerDelivery ? 0 : 20))

        // After unsubscribing, nothing more arrives by either path.
        subscription.unsubscribe()
        try connection.publish(ByteBuffer(string: "late"), to: "\(inbox).late")
        try await connection.flush()
        try await Task.sleep(for: .milliseconds(200))
        #expect(received.withLock { $0.count } == 20)
    }

    /// A direct subscription (a server's request subject) takes its one subject on the reading
    /// thread, leaves the neighbouring subjects to their own subscriptions, and on `drain`
    /// completes and takes no more.
    @Test(arguments: [true, false])
    func directSubscriptionTakesItsOneSubject(readerDelivery: Bool) async throws {
        let connection = try await connect(readerDelivery: readerDelivery)
        defer { Task { await connection.close() } }
        let subject = uniqueSubject("direct")
        let below = try connection.subscribe(to: subject + ".>")
        let longer = try connection.subscribe(to: subject + "x")
        let received = Shared<[String]>([])
        let completed = Shared(false)
        let subscription = try connection.subscribe(
            direct: subject, queue: "servers", onMessage: { message in received.withLock { $0.append(message.string) } },
            onComplete: { completed.withLock { $0 = true } })
        try await connection.flush()
        for i in 0..<20 { try connection.publish(ByteBuffer(string: "m\(i)"), to: subject) }
        try connection.publish(ByteBuffer(string: "below"), to: subject + ".child")
        try connection.publish(ByteBuffer(string: "longer"), to: subject + "x")
        try await connection.flush()
        try await waitUntil(timeout: .seconds(10)) { received.withLock { $0.count } == 20 }
        var belowMessages = below.makeAsyncIterator()
        #expect(await belowMessages.next()?.string == "below")
        var longerMessages = longer.makeAsyncIterator()
        #expect(await longerMessages.next()?.string == "longer")
        #expect(Set(received.value) == Set((0..<20).map { "m\($0)" }))
        #expect(subscription.deliveredThroughSubscription == (readerDelivery ? 0 : 20))

        subscription.drain()
        try await waitUntil(timeout: .seconds(10)) { completed.value }
        try connection.publish(ByteBuffer(string: "late"), to: subject)
        try await connection.flush()
        try await Task.sleep(for: .milliseconds(200))
        #expect(received.withLock { $0.count } == 20)
        below.unsubscribe()
        longer.unsubscribe()
    }

    /// A JetStream pull's replies — the pulled messages under their stream subject, then the
    /// pull's status under the inbox — reach the callback in the order they came, on the reading
    /// thread when the filter is on. Two pull subscriptions of one connection on one consumer
    /// cannot be told apart by the filter: the second one's routes are refused and the first
    /// one's dropped, so both take their replies through their delivery threads, each its own.
    @Test(arguments: [true, false])
    func pullRepliesKeepTheirOrder(readerDelivery: Bool) async throws {
        let connection = try await connect(readerDelivery: readerDelivery)
        defer { Task { await connection.close() } }
        let js = try JetStream(connection)
        let name = try await makeWorkQueue(js, prefix: "PULLRD")

        /// Subscribes, publishes `count` jobs, pulls them with one no-wait request; returns what
        /// came, in order, and how much of it came through the subscription's delivery thread.
        /// (The pull's status: `404` from current servers, `408` from 2.9.)
        func pull(count: Int) async throws -> ([String], Int) {
            let inbox = try NATSConnection.makeInbox()
            let received = Shared<[String]>([])
            let subscription = try connection.subscribe(
                pullInbox: inbox, stream: name, consumers: ["\(name)-c"],
                onMessage: { message in received.withLock { $0.append(message.status != nil ? "status" : message.string) } })
            defer { subscription.unsubscribe() }
            for i in 0..<count { try await js.publish(ByteBuffer(string: "j\(i)"), to: "\(name).jobs") }
            try connection.publish(
                ByteBuffer(string: "{\"batch\":\(count + 5),\"no_wait\":true}"), to: "$JS.API.CONSUMER.MSG.NEXT.\(name).\(name)-c",
                replyTo: "\(inbox).1")
            try await waitUntil(timeout: .seconds(10)) { received.withLock { $0.last?.hasPrefix("status") ?? false } }
            return (received.value, subscription.deliveredThroughSubscription)
        }
        // (The pulled messages stay unacked: each pull takes the ones published for it.)
        let (alone, throughSubscription) = try await pull(count: 5)
        #expect(alone == ["j0", "j1", "j2", "j3", "j4", "status"])
        #expect(throughSubscription == (readerDelivery ? 0 : 6))

        let first = try await pull(count: 3)
        let otherReceived = Shared(0)
        let other = try connection.subscribe(
            pullInbox: try NATSConnection.makeInbox(), stream: name, consumers: ["\(name)-c"], onMessage: { _ in otherReceived.withLock { $0 += 1 } })
        defer { other.unsubscribe() }
        let (second, secondThroughSubscription) = try await pull(count: 3)
        #expect(first.0 == ["j0", "j1", "j2", "status"])
        #expect(second == ["j0", "j1", "j2", "status"])
        #expect(secondThroughSubscription == 4)
        #expect(otherReceived.value == 0)
        #expect(other.deliveredThroughSubscription == 0)
    }

    /// A pull subscription whose routes do not match its messages' ack subjects (here: routes
    /// for another consumer) gives its routes up when the first such message reaches its
    /// delivery thread: the next pull's messages and status all come that way, in order.
    @Test func aPullSubscriptionWhoseRoutesMissGivesThemUp() async throws {
        let connection = try await connect(readerDelivery: true)
        defer { Task { await connection.close() } }
        let js = try JetStream(connection)
        let name = try await makeWorkQueue(js, prefix: "PULLMISS")
        let inbox = try NATSConnection.makeInbox()
        let received = Shared<[String]>([])
        let subscription = try connection.subscribe(
            pullInbox: inbox, stream: name, consumers: ["\(name)-other"],
            onMessage: { message in received.withLock { $0.append(message.status != nil ? "status" : message.string) } })
        defer { subscription.unsubscribe() }
        for round in 1...2 {
            let before = received.withLock { $0.count }
            let throughBefore = subscription.deliveredThroughSubscription
            for i in 0..<3 { try await js.publish(ByteBuffer(string: "j\(i)"), to: "\(name).jobs") }
            try connection.publish(
                ByteBuffer(string: "{\"batch\":8,\"no_wait\":true}"), to: "$JS.API.CONSUMER.MSG.NEXT.\(name).\(name)-c",
                replyTo: "\(inbox).\(round)")
            try await waitUntil(timeout: .seconds(10)) { received.withLock { $0.count } == before + 4 }
            if round == 2 {
                #expect(Array(received.value[before...]) == ["j0", "j1", "j2", "status"])
                #expect(subscription.deliveredThroughSubscription - throughBefore == 4)
            }
        }
    }

    /// Requests (the reply inbox) and JetStream calls answer on both paths.
    @Test(arguments: [true, false])
    func requestsAnswer(readerDelivery: Bool) async throws {
        let connection = try await connect(readerDelivery: readerDelivery)
        let responder = try await connect(readerDelivery: readerDelivery)
        defer { Task { await connection.close(); await responder.close() } }
        let subject = uniqueSubject("reader-delivery")
        let requests = try responder.subscribe(to: subject)
        let answering = Task {
            for await request in requests {
                if let reply = request.replyTo { try? responder.publish(ByteBuffer(string: "re: \(request.string)"), to: reply) }
            }
        }
        defer { answering.cancel() }
        try await responder.flush()
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<50 {
                group.addTask { try await connection.request(ByteBuffer(string: "q\(i)"), to: subject, timeout: .seconds(10)).string }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(answers == Set((0..<50).map { "re: q\($0)" }))
        requests.unsubscribe()
    }
}
