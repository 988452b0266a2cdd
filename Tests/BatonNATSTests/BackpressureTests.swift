import BatonNATS
import NIOCore
import Testing

@Suite("Bounded queues (max messages per subject, discard new per subject)", .timeLimit(.minutes(1)))
struct BackpressureTests {
    private func makeBoundedStream(_ js: JetStream, maxPerSubject: Int64) async throws -> String {
        let name = "BP\(UInt32.random(in: 0...UInt32.max))"
        var stream = StreamSpec(name: name, subjects: ["\(name).>"])
        stream.retention = .workQueue
        stream.discardNew = true
        stream.maxMessagesPerSubject = maxPerSubject
        stream.discardNewPerSubject = true
        try await js.ensureStream(stream)
        try await js.ensureStream(stream)  // idempotent
        return name
    }

    @Test func aFullSubjectRefusesTheNextPublishAndKeepsWhatItHas() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = try await makeBoundedStream(js, maxPerSubject: 5)
        var sequences: [UInt64] = []
        for i in 0..<5 {
            sequences.append(try await js.publish(ByteBuffer("job \(i)"), to: "\(name).svc.normal", messageID: "m\(i)").sequence)
        }
        await #expect {
            try await js.publish(ByteBuffer("job 5"), to: "\(name).svc.normal", messageID: "m5")
        } throws: { error in
            guard let error = error as? NATSError, error.kind == .streamFull else { return false }
            return error.message == "maximum messages per subject exceeded"
        }
        #expect(try await js.streamMessageCount(name) == 5, "the earlier messages stay")
        // A repeat of a stored message is still a duplicate, not a refusal (idempotent submits).
        let again = try await js.publish(ByteBuffer("job 0"), to: "\(name).svc.normal", messageID: "m0")
        #expect(again.duplicate && again.sequence == sequences[0])
        // Other subjects (another priority, another service) have their own bound.
        try await js.publish(ByteBuffer("urgent"), to: "\(name).svc.high")
        try await js.publish(ByteBuffer("other"), to: "\(name).other.normal")
        #expect(try await js.streamMessageCount(name) == 7)
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func takingAJobMakesRoomAgain() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = try await makeBoundedStream(js, maxPerSubject: 2)
        try await js.ensureConsumer(ConsumerSpec(stream: name, durable: "w", filterSubject: "\(name).svc.normal"))
        try await js.publish(ByteBuffer("a"), to: "\(name).svc.normal")
        try await js.publish(ByteBuffer("b"), to: "\(name).svc.normal")
        await #expect { try await js.publish(ByteBuffer("c"), to: "\(name).svc.normal") } throws: { ($0 as? NATSError)?.kind == .streamFull }

        // One message taken and acknowledged (a work queue then deletes it): room for one more.
        // (Deliveries carry the stream subject, not the inbox: pull on a subscription of its own.)
        let inbox = try NATSConnection.makeInbox()
        let subscription = try nats.subscribe(to: inbox)
        try nats.publish(ByteBuffer(#"{"batch":1,"no_wait":true}"#), to: "$JS.API.CONSUMER.MSG.NEXT.\(name).w", replyTo: inbox)
        let delivered = try #require(await collect(subscription, count: 1).first)
        #expect(delivered.status == nil && delivered.string == "a")
        _ = try await nats.request(ByteBuffer("+ACK"), to: try #require(delivered.replyTo), timeout: .seconds(2))  // acked, confirmed
        subscription.unsubscribe()
        try await js.publish(ByteBuffer("c"), to: "\(name).svc.normal")
        #expect(try await js.streamMessageCount(name) == 2)
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func loweringTheBoundIsRefusedAndKeepsEveryQueuedMessage() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = try await makeBoundedStream(js, maxPerSubject: 50)
        for i in 0..<30 { try await js.publish(ByteBuffer("\(i)"), to: "\(name).s.normal") }
        var lower = try #require(try await js.streamSpec(named: name))
        lower.maxMessagesPerSubject = 5
        // Asked to lower the bound below what the subject holds: nothing is written (nats-server
        // would delete the 25 oldest), the refusal is reported, the stream keeps its bound.
        let outcome = try await js.ensureStream(lower)
        #expect(!outcome.created && !outcome.updated)
        #expect(outcome.refused.map(\.field) == ["max_msgs_per_subject"])
        #expect(outcome.spec.maxMessagesPerSubject == 50)
        #expect(try await js.streamSpec(named: name)?.maxMessagesPerSubject == 50)
        #expect(try await js.streamMessageCount(name) == 30)
        #expect(try await js.subjectCounts(in: name, matching: "\(name).s.normal") == ["\(name).s.normal": 30])
        try await js.publish(ByteBuffer("31st"), to: "\(name).s.normal")
        #expect(try await js.streamMessageCount(name) == 31)
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func raisingTheBoundOrUnboundingIsApplied() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = try await makeBoundedStream(js, maxPerSubject: 2)
        for i in 0..<2 { try await js.publish(ByteBuffer("\(i)"), to: "\(name).s.normal") }
        await #expect { try await js.publish(ByteBuffer("x"), to: "\(name).s.normal") } throws: { ($0 as? NATSError)?.kind == .streamFull }
        var spec = try #require(try await js.streamSpec(named: name))
        spec.maxMessagesPerSubject = 3
        let raised = try await js.ensureStream(spec)
        #expect(raised.updated && raised.refused.isEmpty)
        try await js.publish(ByteBuffer("x"), to: "\(name).s.normal")
        await #expect { try await js.publish(ByteBuffer("y"), to: "\(name).s.normal") } throws: { ($0 as? NATSError)?.kind == .streamFull }
        // Unbounded (max-queued 0): accepted.
        spec.maxMessagesPerSubject = -1
        spec.discardNewPerSubject = false
        #expect(try await js.ensureStream(spec).updated)
        try await js.publish(ByteBuffer("y"), to: "\(name).s.normal")
        #expect(try await js.streamMessageCount(name) == 4)
        // The same configuration again is not rewritten.
        #expect(try await !js.ensureStream(spec).updated)
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func aShorterMaxAgeIsRefused() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = "BP\(UInt32.random(in: 0...UInt32.max))"
        var stream = StreamSpec(name: name, subjects: ["\(name).>"])
        stream.maxAge = .seconds(3600)
        try await js.ensureStream(stream)
        let published = ContinuousClock.now
        try await js.publish(ByteBuffer("kept"), to: "\(name).a")
        // Were the shorter age applied, the message (older than it by then) would go. Its age is
        // the point, so this is a time window; the shortest a server takes (100 ms) keeps it short.
        stream.maxAge = .milliseconds(100)
        try await Task.sleep(until: published.advanced(by: .milliseconds(150)))
        #expect(try await js.ensureStream(stream).refused.map(\.field) == ["max_age"])
        #expect(try await js.streamMessageCount(name) == 1)
        #expect(try await js.streamSpec(named: name)?.maxAge == .seconds(3600))
        try await js.deleteStream(name)
        await nats.close()
    }
}
