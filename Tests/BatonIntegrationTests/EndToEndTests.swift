import BatonCore
import BatonNATS
import BatonTestSupport
import Foundation
import NIOCore
import Testing

/// curl → gateway → NATS → worker → answer, over real HTTP and a real nats-server.
@Suite("end to end", .timeLimit(.minutes(2)))
struct EndToEndTests {
    @Test func syncEcho() async throws {
        let client = try await SharedSystem.get().client
        let response = try await client.post("/v1/jobs/echo", "hello baton", headers: ["Content-Type": "text/plain; charset=utf-8"])
        #expect(response.status == 200)
        #expect(response.text == "hello baton")
        #expect(response.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(JobID.isValid(response.header("Baton-Job-Id") ?? ""))
        #expect(response.header("Vary") == "Prefer")
    }

    @Test func syncEchoOnTheFastLane() async throws {
        let client = try await SharedSystem.get().client
        let response = try await client.post("/v1/jobs/echo-fast", "quick", headers: ["Content-Type": "text/plain"])
        #expect(response.status == 200)
        #expect(response.text == "quick")
        #expect(JobID.isValid(response.header("Baton-Job-Id") ?? ""))
    }

    @Test(arguments: ["echo", "echo-fast"])
    func binaryBodyIntact(service: String) async throws {
        let client = try await SharedSystem.get().client
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let response = try await client.send("POST", "/v1/jobs/\(service)", headers: ["Content-Type": "application/octet-stream"], body: bytes)
        #expect(response.status == 200)
        #expect(response.body == bytes)
        #expect(response.header("Content-Type") == "application/octet-stream")
    }

    @Test func waitElapsesThen202ThenPollThenResult() async throws {
        let client = try await SharedSystem.get().client
        // 6 s: the 202 after 1 s and the pending result after it come well before the end even
        // when a loaded box stalls for seconds.
        let submit = try await client.post("/v1/jobs/slow", #"{"ms": 6000, "steps": 3}"#, headers: ["Prefer": "wait=1"])
        #expect(submit.status == 202)
        #expect(submit.header("Preference-Applied") == "wait=1")
        #expect(submit.header("Retry-After") == "1")
        let location = try #require(submit.header("Location"))
        let id = try #require(submit.header("Baton-Job-Id"))
        #expect(location == "/v1/jobs/\(id)")
        let accepted = try submit.json()
        #expect(accepted["id"] as? String == id)
        #expect(["queued", "running"].contains(accepted["state"] as? String))

        let pending = try await client.get(location + "/result")
        #expect(pending.status == 202)

        try await waitUntil(timeout: .seconds(20), every: .milliseconds(100)) {
            try await client.get(location).json()["state"] as? String == "succeeded"
        }
        let status = try await client.get(location)
        let json = try status.json()
        #expect(json["attempts"] as? Int == 1)
        #expect(json["service"] as? String == "slow")
        #expect(json["finishedAt"] is String)
        // The last report comes just before the end, which skips its record write: it travels
        // with the end instead (without it the record said "step 2 of 3" at 100 %).
        let progress = json["progress"] as? [String: Any]
        #expect(progress?["message"] as? String == "step 3 of 3")
        #expect(progress?["percent"] as? Double == 100)
        #expect(status.header("Retry-After") == nil)
        let result = try await client.get(location + "/result")
        #expect(result.status == 200)
        #expect(result.text == #"{"slept_ms":6000}"#)
        #expect(result.header("Content-Type") == "application/json")
        #expect(result.header("Baton-Job-Id") == id)
    }

    /// A client that waits longer than its job's acknowledgement may take (the JetStream
    /// timeout, 5 s) and than the gateway's inbox takes between two scans for forgotten replies
    /// (10 s) gets the `202` of a job that runs, with its record — not a 503 for a job that
    /// runs all the same (the acknowledgement, kept for the `202`, was scanned away).
    @Test func aWaitLongerThanTheAcknowledgementsTimeoutEnds202() async throws {
        let client = try await SharedSystem.get().client
        let submit = try await client.post("/v1/jobs/slow", #"{"ms": 20000}"#, headers: ["Prefer": "wait=16"])
        #expect(submit.status == 202, "\(submit.text)")
        let accepted = try submit.json()
        #expect(["queued", "running"].contains(accepted["state"] as? String))
        #expect((accepted["queueSequence"] as? Int ?? 0) > 0, "the record names the job's stream sequence")
        let location = try #require(submit.header("Location"))
        #expect(try await client.get(location).status == 200)
        #expect(try await client.send("DELETE", location).status == 200)
    }

    @Test func respondAsyncAnswersAtOnce() async throws {
        let client = try await SharedSystem.get().client
        let clock = ContinuousClock()
        let start = clock.now
        let submit = try await client.post("/v1/jobs/slow", #"{"ms": 20000}"#, headers: ["Prefer": "respond-async"])
        // Well before the job's 20 s, with room for a box that builds while it tests (an
        // accept took 3 s at a load average of 9 on two cores).
        #expect(clock.now - start < .seconds(10))
        #expect(submit.status == 202)
        #expect(submit.header("Preference-Applied") == "respond-async")
        let location = try #require(submit.header("Location"))
        // The job is durable before the 202: any reader finds it at once.
        let status = try await client.get(location)
        #expect(status.status == 200)
        #expect(["queued", "running"].contains(try status.json()["state"] as? String))
    }

    @Test func respondAsyncOnTheFastLane() async throws {
        let client = try await SharedSystem.get().client
        let submit = try await client.post("/v1/jobs/echo-fast", "later", headers: ["Prefer": "respond-async", "Content-Type": "text/plain"])
        #expect(submit.status == 202)
        let location = try #require(submit.header("Location"))
        try await waitUntil(timeout: .seconds(5)) {
            try await client.get(location + "/result").status == 200
        }
        let result = try await client.get(location + "/result")
        #expect(result.text == "later")
        #expect(result.header("Content-Type") == "text/plain")
    }

    @Test func progressIsPublishedOnNATS() async throws {
        let system = try await SharedSystem.get()
        let subscription = try system.worker.subscribe(to: "baton.progress.slow.*")
        try await system.worker.flush()
        let submit = try await system.client.post("/v1/jobs/slow", #"{"ms": 300, "steps": 3}"#, headers: ["Prefer": "respond-async"])
        let id = try #require(submit.header("Baton-Job-Id"))
        var events: [ProgressEvent] = []
        for await message in subscription where message.subject == "baton.progress.slow.\(id)" {
            events.append(try JSON.decode(ProgressEvent.self, from: message.payload))
            if events.count == 3 { break }
        }
        subscription.unsubscribe()
        #expect(events.map(\.job) == [id, id, id])
        let percents: [Double?] = [100.0 / 3, 200.0 / 3, 100]
        #expect(events.map(\.percent) == percents)
        #expect(events.last?.message == "step 3 of 3")
    }

    @Test func handlerFailureKeepsItsStatus() async throws {
        let client = try await SharedSystem.get().client
        let response = try await client.post("/v1/jobs/fail", #"{"status": 422, "message": "no such thing"}"#)
        #expect(response.status == 422)
        #expect(response.header("Content-Type") == "application/problem+json")
        let problem = try response.json()
        #expect(problem["status"] as? Int == 422)
        #expect(problem["detail"] as? String == "no such thing")
        let id = try #require(response.header("Baton-Job-Id"))
        let status = try await client.get("/v1/jobs/\(id)").json()
        #expect(status["state"] as? String == "failed")
        #expect(status["status"] as? Int == 422)
        // The stored answer is the one the sync call gave.
        let result = try await client.get("/v1/jobs/\(id)/result")
        #expect(result.status == 422)
        #expect(result.body == response.body)
    }

    @Test func twoHundredConcurrentSyncCalls() async throws {
        let client = try await SharedSystem.get().client
        let results = try await withThrowingTaskGroup(of: (Int, HTTPClient.Response).self) { group in
            for i in 0..<200 {
                group.addTask {
                    let service = i.isMultiple(of: 2) ? "echo" : "echo-fast"
                    return (i, try await client.post("/v1/jobs/\(service)", "call \(i)", headers: ["Content-Type": "text/plain"]))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 200)
        for (i, response) in results {
            #expect(response.status == 200)
            #expect(response.text == "call \(i)")
        }
        #expect(Set(results.values.compactMap { $0.header("Baton-Job-Id") }).count == 200)
    }

    @Test func healthAndReadiness() async throws {
        let client = try await SharedSystem.get().client
        #expect(try await client.get("/healthz").status == 200)
        let ready = try await client.get("/readyz")
        #expect(ready.status == 200)
        #expect(try ready.json()["nats"] as? String == "connected")
    }
}
