import BatonCore
import BatonGateway
import BatonNATS
import BatonTestSupport
import BatonWorker
import EmbeddedNATS
import Foundation
import Testing

/// Priorities and bounded queues through the gateway.
@Suite("priorities and backpressure", .timeLimit(.minutes(2)))
struct PriorityTests {
    @Test func highPriorityJobOvertakesABacklogOfLow() async throws {
        let system = try await SharedSystem.get()
        let gate = try await GateService.start(natsURL: system.server.url)
        defer { Task { await gate.stop() } }
        let client = system.client
        // Concurrency 1: a blocker runs until the backlog of low jobs and the high one are all
        // queued behind it (however long posting them takes on a busy machine).
        try await gate.hold(through: client)
        for i in 0..<10 {
            let low = try await client.post("/v1/jobs/\(gate.name)", "\(20 + i)", headers: ["Prefer": "respond-async, priority=low"])
            #expect(low.status == 202)
        }
        let high = try await client.post("/v1/jobs/\(gate.name)", "99", headers: ["Prefer": "respond-async", "Baton-Priority": "high"])
        #expect(high.status == 202)
        let location = try #require(high.header("Location"))
        #expect(try await client.get(location).json()["priority"] as? String == "high")
        gate.release()
        #expect(try await client.get(location + "/result", headers: ["Prefer": "wait=20"]).text == "99")
        let order = gate.started
        let highAt = try #require(order.firstIndex(of: "99"))
        // In arrival order it would be 11th. After the blocker, the anti-starvation rule may let
        // a low job or two go first (a priority not asked in the last 3 scans goes first).
        #expect(highAt <= 3, "order: \(order)")
        // And the backlog still drains.
        try await waitUntil(timeout: .seconds(20)) { gate.started.count == 12 }
        #expect(try await client.post("/v1/jobs/echo", "x", headers: ["Baton-Priority": "urgent"]).status == 400)
    }

    /// A sync call answered within its wait has no record: its end carries its origin, with the
    /// priority the worker read from the job's subject (`baton.jobs.<service>.<priority>`).
    @Test func anAnsweredSyncJobKeepsItsPriority() async throws {
        let client = try await SharedSystem.get().client
        for priority in Priority.allCases {
            let answered = try await client.post("/v1/jobs/echo", "p", headers: ["Baton-Priority": priority.rawValue])
            #expect(answered.status == 200)
            let id = try #require(answered.header("Baton-Job-Id"))
            #expect(try await client.get("/v1/jobs/\(id)").json()["priority"] as? String == priority.rawValue)
        }
    }

    @Test func fullQueueAnswers503WithRetryAfter() async throws {
        let server = try await NATSServerProcess.shared("backpressure")
        let gateway = try await TestGateway.start(natsURL: server.url) { configuration in
            configuration.layout.maxQueuedPerService = 3
        }
        defer { Task { await gateway.connection.close() } }
        // A worker registers `echo` and goes away, so jobs stay queued.
        try await WorkerProcess.registerAndLeave(natsURL: server.url, arguments: ["--services", "echo", "--max-queued", "3"])

        var statuses: [Int] = []
        var last: HTTPClient.Response? = nil
        let key = "full-\(UInt32.random(in: 0...UInt32.max))"
        for i in 0..<5 {
            let response = try await gateway.client.post(
                "/v1/jobs/echo", "queued \(i)", headers: ["Prefer": "respond-async"].merging(i == 4 ? ["Idempotency-Key": key] : [:]) { $1 })
            statuses.append(response.status)
            last = response
        }
        #expect(statuses == [202, 202, 202, 503, 503])
        let refused = try #require(last)
        #expect(refused.header("Retry-After") == "5")
        #expect(try refused.json()["type"] as? String == "/problems/queue-full")
        // Another priority has its own bound; nothing queued was dropped.
        #expect(try await gateway.client.post("/v1/jobs/echo", "high", headers: ["Prefer": "respond-async, priority=high"]).status == 202)
        let worker = try WorkerProcess(natsURL: server.url, arguments: ["--services", "echo", "--max-queued", "3"])
        defer { worker.kill() }
        try await worker.waitUntilServing()
        // Once the worker drains the full queue, submits are accepted again (until then: 503).
        let client = gateway.client
        try await waitUntil(timeout: .seconds(15), every: .milliseconds(200)) {
            try await client.post("/v1/jobs/echo", "after", headers: ["Prefer": "wait=10"]).status == 200
        }
        // A retry of the refused request with its idempotency key is queued now and answered.
        let retried = try await gateway.client.post("/v1/jobs/echo", "queued 4", headers: ["Prefer": "wait=10", "Idempotency-Key": key])
        #expect(retried.status == 200)
        #expect(retried.text == "queued 4")
    }
}
