import BatonCore
import BatonNATS
import BatonTestSupport
import EmbeddedNATS
import Foundation
import Testing

/// A lowered `--max-queued` (a rolling deploy, or two processes with different values) never
/// deletes an accepted job: the stream keeps its bound, the gateway with the lower one refuses
/// new submits itself until the queue drains, and every accepted job runs. Real `baton`
/// processes, real HTTP; `make test-matrix` runs it on the oldest and the current nats-server.
@Suite("changing a limit never deletes a job", .timeLimit(.minutes(2)))
struct LimitChangeTests {
    @Test func aLowerMaxQueuedKeepsEveryAcceptedJobAndRefusesNewOnesUntilTheQueueDrains() async throws {
        let server = try await NATSServerProcess.shared("limit-change")
        // A worker registers `echo` and goes away, so jobs stay queued.
        try await WorkerProcess.registerAndLeave(natsURL: server.url, arguments: ["--services", "echo", "--max-queued", "50"])
        let wide = try GatewayProcess(natsURL: server.url, arguments: ["--max-queued", "50"])
        defer { wide.kill() }
        try await wide.waitUntilReady()

        var accepted: [String] = []
        for i in 0..<30 {
            let response = try await wide.client.post("/v1/jobs/echo", "job \(i)", headers: ["Prefer": "respond-async"])
            #expect(response.status == 202)
            if let id = response.header("Baton-Job-Id") { accepted.append(id) }
        }
        #expect(accepted.count == 30)

        // A gateway started with a bound below the depth: it does not lower the stream's bound
        // (nats-server would delete the 25 oldest jobs), it says so, and it refuses new submits.
        let narrow = try GatewayProcess(natsURL: server.url, arguments: ["--max-queued", "5"])
        defer { narrow.kill() }
        try await narrow.waitUntilReady()
        #expect(narrow.log.contains("max_msgs_per_subject stays 50, not 5"))
        let refused = try await narrow.client.post("/v1/jobs/echo", "refused", headers: ["Prefer": "respond-async"])
        #expect(refused.status == 503)
        #expect(try refused.json()["type"] as? String == "/problems/queue-full")
        #expect(refused.header("Retry-After") != nil)
        // The other gateway still takes jobs up to its own bound (the stream's).
        let more = try await wide.client.post("/v1/jobs/echo", "job 30", headers: ["Prefer": "respond-async"])
        #expect(more.status == 202)
        if let id = more.header("Baton-Job-Id") { accepted.append(id) }

        let nats = try await NATSConnection.connect(NATSConfiguration(servers: [server.url], name: "limit-check"), logger: quietLogger("limit"))
        defer { Task { await nats.close() } }
        let js = try JetStream(nats)
        #expect(try await js.streamSpec(named: Streams.jobs)?.maxMessagesPerSubject == 50)
        #expect(try await js.subjectCounts(in: Streams.jobs, matching: Subjects.job(service: "echo")).values.first == 31)

        // Up to the stream's bound; then the stream refuses a job whose client waits for its
        // answer, and the refusal ends that wait at once (`SentPublish.endsWait`: the wait takes
        // the job's acknowledgement; without it the call would last the acknowledgement's 5 s).
        for i in 31..<50 {
            let response = try await wide.client.post("/v1/jobs/echo", "job \(i)", headers: ["Prefer": "respond-async"])
            #expect(response.status == 202)
            if let id = response.header("Baton-Job-Id") { accepted.append(id) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let full = try await wide.client.post("/v1/jobs/echo", "refused", headers: ["Prefer": "wait=30"])
        #expect(full.status == 503)
        #expect(try full.json()["type"] as? String == "/problems/queue-full")
        #expect(clock.now - start < .seconds(4), "a refused job ends its client's wait at once")
        #expect(try await js.subjectCounts(in: Streams.jobs, matching: Subjects.job(service: "echo")).values.first == 50)

        // A worker with the lower bound starts too (it does not lower the bound either) and
        // runs every accepted job.
        let worker = try WorkerProcess(natsURL: server.url, arguments: ["--services", "echo", "--max-queued", "5"])
        defer { worker.kill() }
        try await worker.waitUntilServing()
        let client = narrow.client
        for (i, id) in accepted.enumerated() {
            let result = try await client.get("/v1/jobs/\(id)/result", headers: ["Prefer": "wait=20"])
            #expect(result.status == 200, "job \(i) (\(id)): \(result.status) \(result.text)")
            #expect(result.text == "job \(i)")
        }
        // Drained: the narrow gateway takes jobs again.
        try await waitUntil(timeout: .seconds(10), every: .milliseconds(300)) {
            try await client.post("/v1/jobs/echo", "after", headers: ["Prefer": "wait=10"]).status == 200
        }
        #expect(try await js.streamSpec(named: Streams.jobs)?.maxMessagesPerSubject == 50)
    }

    @Test func aBurstAtTheLowerBoundAdmitsExactlyTheBound() async throws {
        let server = try await NATSServerProcess.shared("limit-burst")
        try await WorkerProcess.registerAndLeave(natsURL: server.url, arguments: ["--services", "echo", "--max-queued", "50"])
        let narrow = try GatewayProcess(natsURL: server.url, arguments: ["--max-queued", "5"])
        defer { narrow.kill() }
        try await narrow.waitUntilReady()
        // 30 submits at once share the gateway's depth reads and reserve places one by one.
        let client = narrow.client
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<30 {
                group.addTask { try await client.post("/v1/jobs/echo", "burst \(i)", headers: ["Prefer": "respond-async"]).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 202 }.count == 5, "\(statuses.sorted())")
        #expect(statuses.filter { $0 == 503 }.count == 25)
    }
}
