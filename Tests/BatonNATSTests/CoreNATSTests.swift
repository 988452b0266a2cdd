import BatonNATS
import BatonTestSupport
import EmbeddedNATS
import Foundation
import NIOCore
import Testing

@Suite("core NATS through the binding", .timeLimit(.minutes(1)))
struct CoreNATSTests {
    @Test func publishSubscribeWithHeaders() async throws {
        let nats = try await connectToTestServer()
        let subject = uniqueSubject()
        let subscription = try nats.subscribe(to: subject)
        try await nats.flush()
        var headers: NATSHeaders = ["Baton-Job-Id": "j1", "Content-Type": "application/octet-stream"]
        headers.add("Multi", "a")
        headers.add("Multi", "b")
        for i in 0..<3 {
            try nats.publish(ByteBuffer("msg \(i)"), to: subject, headers: headers)
        }
        let messages = await collect(subscription, count: 3)
        #expect(messages.map(\.string) == ["msg 0", "msg 1", "msg 2"])
        #expect(messages[0].headers["baton-job-id"] == "j1")
        #expect(messages[0].headers["Content-Type"] == "application/octet-stream")
        #expect(messages[0].headers.filter { $0.name == "Multi" }.map(\.value) == ["a", "b"])
        await nats.close()
    }

    /// An empty header value once swallowed the next header (a job lost its Baton-Job-Id to
    /// an empty `tracestate`); empty values are left out and CR/LF cannot split the block.
    @Test func emptyAndMultilineHeaderValuesDoNotCorruptOthers() async throws {
        let nats = try await connectToTestServer()
        let subject = uniqueSubject()
        let subscription = try nats.subscribe(to: subject)
        try await nats.flush()
        var headers = NATSHeaders()
        headers.add("tracestate", "")
        headers.add("Baton-Job-Id", "j2")
        headers.add("Baton-Error", "line one\r\nInjected: yes")
        headers.add("Content-Type", "text/plain")
        try nats.publish(ByteBuffer("x"), to: subject, headers: headers)
        let message = try #require(await collect(subscription, count: 1).first)
        #expect(message.headers["Baton-Job-Id"] == "j2")
        #expect(message.headers["Content-Type"] == "text/plain")
        #expect(message.headers["tracestate"] == nil)
        #expect(message.headers["Injected"] == nil)
        #expect(message.headers["Baton-Error"]?.hasPrefix("line one") == true)
        await nats.close()
    }

    @Test func binaryPayloadRoundTrips() async throws {
        let nats = try await connectToTestServer()
        let subject = uniqueSubject()
        let subscription = try nats.subscribe(to: subject)
        try await nats.flush()
        let bytes = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try nats.publish(ByteBuffer(bytes: bytes), to: subject)
        let messages = await collect(subscription, count: 1)
        #expect(messages.first.map { Array($0.payload.readableBytesView) } == bytes)
        await nats.close()
    }

    @Test func queueGroupSpreadsLoad() async throws {
        let nats = try await connectToTestServer()
        let subject = uniqueSubject()
        let a = try nats.subscribe(to: subject, queue: "workers")
        let b = try nats.subscribe(to: subject, queue: "workers")
        try await nats.flush()
        for i in 0..<400 { try nats.publish(ByteBuffer("\(i)"), to: subject) }
        try await nats.flush()
        async let fromA = collect(a, count: 400, timeout: .seconds(2))
        async let fromB = collect(b, count: 400, timeout: .seconds(2))
        let (countA, countB) = await (fromA.count, fromB.count)
        #expect(countA + countB == 400)
        #expect(countA > 50 && countB > 50, "uneven split: \(countA) / \(countB)")
        await nats.close()
    }

    @Test func requestReply() async throws {
        let nats = try await connectToTestServer()
        let subject = uniqueSubject("svc")
        let responder = try nats.subscribe(to: subject)
        try await nats.flush()
        let task = Task {
            for await request in responder {
                var headers = NATSHeaders()
                headers["Echo-Of"] = request.headers["Ask"]
                try nats.publish(ByteBuffer("re: \(request.string)"), to: request.replyTo!, headers: headers)
            }
        }
        let replies = try await withThrowingTaskGroup(of: NATSMessage.self) { group in
            for i in 0..<50 {
                group.addTask { try await nats.request(ByteBuffer("q\(i)"), to: subject, headers: ["Ask": "\(i)"], timeout: .seconds(2)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.count == 50)
        #expect(Set(replies.map(\.string)) == Set((0..<50).map { "re: q\($0)" }))
        #expect(replies.allSatisfy { $0.string == "re: q\($0.headers["Echo-Of"]!)" })
        responder.unsubscribe()
        _ = await task.result
        await nats.close()
    }

    @Test func noRespondersIsADistinctError() async throws {
        let nats = try await connectToTestServer()
        let clock = ContinuousClock()
        let start = clock.now
        await #expect {
            _ = try await nats.request(ByteBuffer("x"), to: uniqueSubject("nobody"), timeout: .seconds(30))
        } throws: { error in
            (error as? NATSError)?.kind == .noResponders
        }
        #expect(clock.now - start < .seconds(10), "no responders must not wait for the timeout")
        await nats.close()
    }

    @Test func requestTimesOut() async throws {
        let nats = try await connectToTestServer()
        let subject = uniqueSubject("silent")
        let silent = try nats.subscribe(to: subject)
        try await nats.flush()
        await #expect {
            _ = try await nats.request(ByteBuffer("x"), to: subject, timeout: .milliseconds(200))
        } throws: { error in
            (error as? NATSError)?.kind == .timeout
        }
        silent.unsubscribe()
        await nats.close()
    }

    @Test func slowReaderIsReportedNotSilent() async throws {
        let nats = try await connectToTestServer()
        let subject = uniqueSubject()
        let subscription = try nats.subscribe(to: subject, bufferLimit: 10)
        try await nats.flush()
        for i in 0..<100 { try nats.publish(ByteBuffer("\(i)"), to: subject) }
        try await nats.flush()
        // The flush only says the server has them; the drops are counted as they reach us.
        try await waitUntil(timeout: .seconds(5)) { subscription.droppedCount >= 90 }
        #expect(subscription.droppedCount == 90)
        let kept = await collect(subscription, count: 10, timeout: .seconds(1))
        #expect(kept.map(\.string) == (0..<10).map { "\($0)" })
        await nats.close()
    }
}

@Suite("The server under test")
struct ServerUnderTestTests {
    /// The suite runs on the server `BATON_NATS_SERVER` names (`make test-matrix`: the current
    /// release and 2.9.10); the connection reads the same release the server's log states.
    @Test func theConnectionKnowsTheServersRelease() async throws {
        let server = try await NATSServerProcess.shared()
        let nats = try await connectToTestServer()
        let version = try #require(await nats.serverVersion())
        #expect(version == server.version)
        #expect(ServerCapabilities(version).isSupported)
        if let chosen = ProcessInfo.processInfo.environment["BATON_NATS_SERVER"] {
            #expect(server.executable == chosen)
        }
        await nats.close()
    }
}
