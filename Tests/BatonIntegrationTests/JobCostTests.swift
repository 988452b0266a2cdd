import BatonCore
import BatonExamples
import BatonNATS
import BatonStore
import BatonTestSupport
import BatonWorker
import EmbeddedNATS
import Foundation
import NIOCore
import Synchronization
import Testing

/// What a durable job costs NATS, counted by the server itself (its streams' sequences), and
/// what the cheaper path must not give up.
@Suite("job cost", .serialized, .timeLimit(.minutes(2))) struct JobCostTests {
    /// A server of its own, so that no other test's writes are counted.
    static let system = Task<(NATSServerProcess, TestGateway), Error> {
        let server = try await NATSServerProcess.shared("job-cost")
        let logger = quietLogger("test.cost")
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [server.url], name: "cost-worker"), logger: logger)
        let services = ["echo", "slow"].compactMap { ExampleServices.definition($0) }
        var configuration = WorkerConfiguration(workerID: "cost")
        // Far longer than a short job takes even on a busy machine, so only jobs meant to
        // outlive it are marked running (with 2 s, one echo of 20 was marked under four busy
        // loops on two cores).
        configuration.runningMarkDelay = .seconds(10)
        let worker = Worker(connection: connection, services: services, configuration: configuration, logger: logger)
        Task { try await worker.run() }
        let gateway = try await TestGateway.start(natsURL: server.url)
        try await waitUntil(timeout: .seconds(10)) { (try? await gateway.client.post("/v1/jobs/echo", "warm").status) == 200 }
        return (server, gateway)
    }

    /// Messages stored in all streams so far (sequences count deleted ones too: acked jobs).
    private func storedMessages(_ js: JetStream) async throws -> UInt64 {
        var total: UInt64 = 0
        for stream in [Streams.jobs, Streams.events, Streams.deadLetters, "KV_\(Streams.recordsBucket)", "KV_\(Streams.resultsBucket)"] {
            let reply = try await js.connection.request(ByteBuffer(), to: "$JS.API.STREAM.INFO.\(stream)", timeout: .seconds(5))
            let info = try JSONSerialization.jsonObject(with: Data(reply.payload.readableBytesView)) as? [String: Any]
            total += ((info?["state"] as? [String: Any])?["last_seq"] as? NSNumber)?.uint64Value ?? 0
        }
        return total
    }

    /// Job and answer: two messages per short durable call answered within its wait (it gets
    /// no record); record, job, answer: three per `respond-async` job. A job that runs past the
    /// running mark's delay costs one more. On servers whose delivery counts are not exact
    /// every job is marked running before it runs (one more each, or none more when the job
    /// outran its record and the worker wrote it: the gateway's create then stores nothing).
    @Test func aShortDurableJobCostsTwoOrThreeStoredMessages() async throws {
        let (server, gateway) = try await Self.system.value
        let exact = server.version.map { ServerCapabilities($0).keepsDeliveryCountOnNak } ?? false
        let js = try JetStream(gateway.connection)
        let store = JobStore(jetStream: js)
        let client = gateway.client
        let before = try await storedMessages(js)
        var answered: [(id: String, sent: Date, received: Date)] = []
        for i in 0..<10 {
            let sent = Date()
            let answer = try await client.post("/v1/jobs/echo", "sync \(i)")
            #expect(answer.status == 200)
            #expect(answer.text == "sync \(i)")
            answered.append((try #require(answer.header("Baton-Job-Id")), sent, Date()))
        }
        var locations: [String] = []
        for i in 0..<10 {
            let accepted = try await client.post("/v1/jobs/echo", "async \(i)", headers: ["Prefer": "respond-async"])
            locations.append(try #require(accepted.header("Location")))
        }
        for (i, location) in locations.enumerated() {
            #expect(try await client.get(location + "/result", headers: ["Prefer": "wait=10"]).text == "async \(i)")
            let status = try await client.get(location).json()
            #expect(status["state"] as? String == "succeeded")
            #expect(status["attempts"] as? Int == 1)
            #expect(status["startedAt"] as? String != nil)
            #expect(status["worker"] as? String == "cost")
        }
        let stored = try await storedMessages(js) - before
        let expected: ClosedRange<UInt64> = exact ? 50...50 : 60...70
        #expect(expected.contains(stored), "\(stored) messages for 20 jobs")

        // A call answered in time is read from its answer entry alone: with when it was created
        // (before it started), at which priority, as a finished job.
        for (id, sent, received) in answered {
            if exact { #expect(try await store.records.get(id) == nil, "no record for a call answered in time") }
            let status = try await client.get("/v1/jobs/\(id)").json()
            #expect(status["state"] as? String == "succeeded")
            #expect(status["service"] as? String == "echo")
            #expect(status["worker"] as? String == "cost")
            let created = try #require((status["createdAt"] as? String).flatMap { Timestamp(rfc3339: $0) })
            let started = try #require((status["startedAt"] as? String).flatMap { Timestamp(rfc3339: $0) })
            #expect(created <= started)
            // Within the call (one clock; a second's slack for the timestamp's precision): a fixed
            // bound around `sent` failed on a loaded box whose call took 7 s.
            #expect(created.date >= sent.addingTimeInterval(-1) && created.date <= received.addingTimeInterval(1), "created \(created), call \(sent)–\(received)")
            #expect(try await client.get("/v1/jobs/\(id)/result").text.hasPrefix("sync "))
        }

        // A call whose wait ends first is recorded before its 202: its Location can be read.
        let late = try await client.post("/v1/jobs/slow", #"{"ms": 2500}"#, headers: ["Prefer": "wait=1"])
        #expect(late.status == 202)
        let lateID = try #require(late.header("Baton-Job-Id"))
        #expect(try await store.records.get(lateID) != nil, "recorded once the wait ended")
        #expect(try await client.get("/v1/jobs/\(lateID)/result", headers: ["Prefer": "wait=10"]).status == 200)

        let long = try await client.post("/v1/jobs/slow", #"{"ms": 14000}"#, headers: ["Prefer": "respond-async"])
        let location = try #require(long.header("Location"))
        try await waitUntil(timeout: .seconds(14)) { try await client.get(location).json()["state"] as? String == "running" }
        let before2 = try await storedMessages(js)
        #expect(try await client.get(location + "/result", headers: ["Prefer": "wait=20"]).status == 200)
        // Only the answer: its one progress report (100%, just before its end) is skipped, as
        // the end says as much.
        #expect(try await storedMessages(js) - before2 == 1)
    }

    /// Progress reported faster than every 250 ms reaches the record coalesced (the events go
    /// out each time): 60 reports in 600 ms cost at most three record writes.
    @Test func progressIsWrittenToTheRecordAtMostEveryQuarterSecond() async throws {
        let (_, gateway) = try await Self.system.value
        let js = try JetStream(gateway.connection)
        let client = gateway.client
        // Subscribed before the submit (the first reports can come before its 202 does), counted
        // per job: the server is this suite's own, but a job's subject is known only after.
        let events = try gateway.connection.subscribe(to: "baton.progress.slow.>")
        defer { events.unsubscribe() }
        let seen = Mutex<[String: Int]>([:])
        let counting = Task { for await event in events { seen.withLock { $0[event.subject, default: 0] += 1 } } }
        defer { counting.cancel() }
        let before = try await storedMessages(js)
        let accepted = try await client.post("/v1/jobs/slow", #"{"ms": 600, "steps": 60}"#, headers: ["Prefer": "respond-async"])
        let location = try #require(accepted.header("Location"))
        let subject = "baton.progress.slow.\(try #require(accepted.header("Baton-Job-Id")))"
        var percent = 0.0
        for _ in 0..<250 where percent == 0 {
            percent = (try await client.get(location).json()["progress"] as? [String: Any])?["percent"] as? Double ?? 0
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(percent > 0)
        #expect(percent < 100)  // a report of the running job, not its end
        #expect(try await client.get(location + "/result", headers: ["Prefer": "wait=10"]).status == 200)
        // Every report was published before the end (progress events are core NATS, the end
        // a JetStream write): all 60 arrive, while the record took at most three of them.
        try await waitUntil(timeout: .seconds(10)) { seen.withLock { $0[subject] ?? 0 } == 60 }
        #expect(seen.withLock { $0[subject] } == 60)
        let writes = try await storedMessages(js) - before
        // At most one record write per quarter second of the run: three for the job's 600 ms,
        // more when a loaded box stretches the run (seen: 1.5 s and six writes, under a suite
        // that ran thousands of jobs beside it).
        let status = try await client.get(location).json()
        let started = try #require((status["startedAt"] as? String).flatMap { Timestamp(rfc3339: $0) })
        let finished = try #require((status["finishedAt"] as? String).flatMap { Timestamp(rfc3339: $0) })
        let quarters = Int(((Double(finished.milliseconds - started.milliseconds) / 250).rounded(.up)))
        let progressWrites = max(3, quarters)
        #expect(
            writes >= 5 && writes <= 4 + UInt64(progressWrites),
            "record, job, running mark, 1–\(progressWrites) progress writes, answer: \(writes)")
    }
}
