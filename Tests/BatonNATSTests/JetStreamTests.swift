import BatonNATS
import BatonTestSupport
import Glibc
import Logging
import NIOCore
import Synchronization
import Testing

@Suite("JetStream and KV through the binding", .timeLimit(.minutes(1)))
struct JetStreamTests {
    @Test func publishDeduplicatesByMessageID() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = "T\(UInt32.random(in: 0...UInt32.max))"
        try await js.ensureStream(StreamSpec(name: name, subjects: ["\(name).>"]))
        try await js.ensureStream(StreamSpec(name: name, subjects: ["\(name).>"]))  // idempotent
        let first = try await js.publish(ByteBuffer("a"), to: "\(name).x", messageID: "job-1")
        let again = try await js.publish(ByteBuffer("a"), to: "\(name).x", messageID: "job-1")
        #expect(!first.duplicate)
        #expect(again.duplicate)
        #expect(again.sequence == first.sequence)
        #expect(try await js.streamMessageCount(name) == 1)
        await #expect(throws: NATSError.self) {
            try await js.publish(ByteBuffer("a"), to: uniqueSubject("nostream"))
        }
        try await js.deleteStream(name)
        await nats.close()
    }

    /// A fresh stream taking `<name>.>` and a fresh bucket whose key `taken` holds "first": what
    /// the tests of sent writes start from.
    private func streamAndBucket() async throws -> (NATSConnection, JetStream, name: String, KeyValueBucket) {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = "T\(UInt32.random(in: 0...UInt32.max))"
        try await js.ensureStream(StreamSpec(name: name, subjects: ["\(name).>"]))
        let kv = try await KeyValueBucket.ensure("t-\(UInt32.random(in: 0...UInt32.max))", jetStream: js, ttl: .seconds(60))
        try await kv.create("taken", ByteBuffer("first"))
        return (nats, js, name, kv)
    }

    /// Writes sent together from one task, their acknowledgements awaited after: each gets its
    /// own answer (a create that loses to an existing key fails alone), a publish to no stream
    /// fails on its ack, and a discarded ack's write is still stored.
    @Test func sentWritesAreAcknowledgedEachOnItsOwn() async throws {
        let (nats, js, name, kv) = try await streamAndBucket()

        let publish = try js.send(ByteBuffer("job"), to: "\(name).x", messageID: "m-1")
        let create = try kv.sendCreate("fresh", ByteBuffer("record"))
        let lost = try kv.sendCreate("taken", ByteBuffer("second"))
        let nowhere = try js.send(ByteBuffer("x"), to: uniqueSubject("nostream"))
        let forgotten = try js.send(ByteBuffer("later"), to: "\(name).y")
        forgotten.discard()

        #expect(try await publish.ack().stream == name)
        #expect(try await create.ack().sequence == (try await kv.get("fresh"))?.revision)
        await #expect {
            try await lost.ack()
        } throws: { error in
            (error as? NATSError)?.kind == .wrongLastSequence
        }
        await #expect {
            try await nowhere.ack()
        } throws: { error in
            (error as? NATSError)?.kind == .noResponders
        }
        #expect(try await kv.get("taken")?.value == ByteBuffer("first"))
        try await waitUntil(timeout: .seconds(5)) { try await js.streamMessageCount(name) == 2 }
        try await js.deleteStream(name)
        await nats.close()
    }

    /// An acknowledgement taken where it lands (`whenAcknowledged`), and a write sent from
    /// there, as the gateway's `respond-async` chains its job's publish and its record: each
    /// gets what its `ack()` would return or throw.
    @Test func acknowledgementsTakenWhereTheyLand() async throws {
        let (nats, js, name, kv) = try await streamAndBucket()

        func acknowledged(_ sent: SentPublish) async -> Result<PublishAck, any Error> {
            await withCheckedContinuation { continuation in sent.whenAcknowledged { continuation.resume(returning: $0) } }
        }
        // The job, then from its acknowledgement the record that names its sequence.
        let chained: Result<(PublishAck, PublishAck), any Error> = await withCheckedContinuation { continuation in
            do {
                try js.send(ByteBuffer("job"), to: "\(name).x", messageID: "m-1").whenAcknowledged { job in
                    do {
                        let job = try job.get()
                        try kv.sendCreate("record", ByteBuffer("after \(job.sequence)")).whenAcknowledged { record in
                            continuation.resume(returning: record.map { (job, $0) })
                        }
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        let (job, record) = try chained.get()
        #expect(job.stream == name)
        #expect(try await kv.get("record")?.value == ByteBuffer("after \(job.sequence)"))
        #expect(try await kv.get("record")?.revision == record.sequence)

        let lost = await acknowledged(try kv.sendCreate("taken", ByteBuffer("second")))
        #expect((lost.failure as? NATSError)?.kind == .wrongLastSequence)
        let nowhere = await acknowledged(try js.send(ByteBuffer("x"), to: uniqueSubject("nostream")))
        #expect((nowhere.failure as? NATSError)?.kind == .noResponders)
        #expect(try await kv.get("taken")?.value == ByteBuffer("first"))
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func keyValueCreateOnlyAndRevisions() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let kv = try await KeyValueBucket.ensure("t-\(UInt32.random(in: 0...UInt32.max))", jetStream: js, ttl: .seconds(60))
        #expect(try await kv.get("missing") == nil)
        let r1 = try await kv.create("k", ByteBuffer("one"), headers: ["Baton-Status": "200"])
        await #expect {
            try await kv.create("k", ByteBuffer("two"))
        } throws: { error in
            (error as? NATSError)?.kind == .wrongLastSequence
        }
        let entry = try #require(try await kv.get("k"))
        #expect(entry.value == ByteBuffer("one"))
        #expect(entry.revision == r1)
        #expect(entry.headers["Baton-Status"] == "200")
        let r2 = try await kv.update("k", ByteBuffer("two"), revision: r1)
        #expect(r2 > r1)
        await #expect {
            try await kv.update("k", ByteBuffer("stale"), revision: r1)
        } throws: { error in
            (error as? NATSError)?.kind == .wrongLastSequence
        }
        try await kv.put("k", ByteBuffer("three"))
        #expect(try await kv.get("k")?.value == ByteBuffer("three"))
        // The leader's copy reads the same, headers included.
        let multiline = try await kv.put("h", ByteBuffer("four"), headers: ["Baton-Status": "409", "Baton-Error": "a: b"])
        let fromLeader = try #require(try await kv.getFromLeader("h"))
        #expect(fromLeader.value == ByteBuffer("four"))
        #expect(fromLeader.revision == multiline)
        #expect(fromLeader.headers["Baton-Status"] == "409")
        #expect(fromLeader.headers["Baton-Error"] == "a: b")
        #expect(try await kv.getFromLeader("k")?.value == ByteBuffer("three"))
        #expect(try await kv.getFromLeader("missing") == nil)
        try await js.deleteStream("KV_\(kv.name)")
        await nats.close()
    }

    @Test func unackedMessageIsRedelivered() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = try await makeWorkQueue(js, prefix: "W")
        var consumerSpec = ConsumerSpec(stream: name, durable: "workers", filterSubject: "\(name).jobs")
        consumerSpec.ackWait = .seconds(1)
        try await js.ensureConsumer(consumerSpec)
        try await js.ensureConsumer(consumerSpec)  // idempotent
        try await js.publish(ByteBuffer("job"), to: "\(name).jobs", messageID: "m1")

        // Each delivery's count and the server's time of sending it (from its ack subject).
        let deliveries = Mutex<[(count: Int, sentAt: UInt64)]>([])
        let ackConfirmedAt = Mutex<UInt64?>(nil)
        let markerSeen = Atomic(false)
        let consumer = PriorityPuller(jetStream: js, stream: name, consumers: ["workers"])
        let run = Task {
            try await consumer.run(maxInFlight: 4, logger: Logger(label: "pull")) { message in
                if message.payload == ByteBuffer("marker") {
                    try? message.ack()
                    markerSeen.store(true, ordering: .relaxed)
                    return
                }
                let reply = message.message.replyTo ?? ""
                let count = deliveries.withLock {
                    $0.append((message.deliveryCount, deliveryTime(ackSubject: reply) ?? .max))
                    return $0.count
                }
                // The first delivery "crashes": no ack. A later one acks and waits for the
                // server to confirm it.
                guard count >= 2, ackConfirmedAt.withLock({ $0 }) == nil else { return }
                if (try? await nats.request(ByteBuffer("+ACK"), to: reply, timeout: .seconds(5))) != nil {
                    ackConfirmedAt.withLock { $0 = wallClockNanoseconds() }
                }
            }
        }
        try await waitUntil(timeout: .seconds(10)) { ackConfirmedAt.withLock { $0 } != nil }
        // The acknowledged job has left the work queue: the server cannot send it again.
        // Deliveries it sent before it took the ack may still be on their way (on a loaded box
        // the ack's round trip can outlast an ack wait or two): a marker published now comes
        // after them on this connection, and the puller starts handlers in the order messages
        // arrive, so once the marker is handled every delivery is counted.
        try await waitUntil(timeout: .seconds(5)) { try await js.streamMessageCount(name) == 0 }
        try await js.publish(ByteBuffer("marker"), to: "\(name).jobs", messageID: "marker")
        try await waitUntil(timeout: .seconds(10)) { markerSeen.load(ordering: .relaxed) }
        run.cancel()
        _ = await run.result
        let seen = deliveries.withLock { $0 }
        let confirmed = try #require(ackConfirmedAt.withLock { $0 })
        #expect(seen.prefix(2).map(\.count) == [1, 2], "redelivered after the ack wait, counted: \(seen)")
        #expect(seen.allSatisfy { $0.sentAt <= confirmed }, "no delivery sent after the ack was confirmed at \(confirmed): \(seen)")
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func pullRespectsMaxInFlight() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = try await makeWorkQueue(js, prefix: "P")
        try await js.ensureConsumer(ConsumerSpec(stream: name, durable: "w", filterSubject: "\(name).>"))
        for i in 0..<40 { try await js.publish(ByteBuffer("\(i)"), to: "\(name).a") }

        struct Counters { var running = 0, peak = 0, done = 0 }
        let counters = Mutex(Counters())
        let run = Task {
            try await PriorityPuller(jetStream: js, stream: name, consumers: ["w"]).run(maxInFlight: 3, logger: Logger(label: "pull")) { message in
                counters.withLock { $0.running += 1; $0.peak = max($0.peak, $0.running) }
                try? await Task.sleep(for: .milliseconds(10))
                counters.withLock { $0.running -= 1; $0.done += 1 }
                try? message.ack()
            }
        }
        let clock = ContinuousClock()
        // 40 jobs of 10 ms take well under a second; the bound only stops a hung test (the
        // shared server can stall for seconds while the whole suite loads two cores).
        let deadline = clock.now.advanced(by: .seconds(30))
        while counters.withLock({ $0.done }) < 40, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        run.cancel()
        _ = await run.result
        let final = counters.withLock { $0 }
        #expect(final.done == 40)
        #expect(final.peak <= 3)
        #expect(final.peak >= 2)
        try await js.deleteStream(name)
        await nats.close()
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}

/// The server's time of sending a JetStream delivery, in nanoseconds since 1970, from its ack
/// subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or the
/// form with a domain and an account hash after `ACK` (and a token at the end).
private func deliveryTime(ackSubject: String) -> UInt64? {
    let tokens = ackSubject.split(separator: ".")
    switch tokens.count {
    case 9: return UInt64(tokens[7])
    case 11, 12: return UInt64(tokens[9])
    default: return nil
    }
}

private func wallClockNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
