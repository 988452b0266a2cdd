@testable import BatonGateway
import BatonCore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// `POST /v1/jobs/{service}`: the answer on the call, `202` with `Location`, and `Prefer`.
@Suite("contract: submit", .timeLimit(.minutes(1)))
struct SubmitContractTests {
    @Test(arguments: [Lane.durable, .fast])
    func syncAnswerWithItsHeaders(lane: Lane) async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", lane: lane, handler: Handlers.echo)
        try await gateway.test { client in
            let response = try await client.post("/v1/jobs/echo", "hello baton", headers: [.contentType: "text/plain; charset=utf-8"])
            #expect(response.status == .ok)
            #expect(response.text == "hello baton")
            #expect(response.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(JobID.isValid(response.header("Baton-Job-Id") ?? ""))
            #expect(response.header("Vary") == "Prefer")
            #expect(response.header("Location") == nil)
            #expect(response.header("Preference-Applied") == nil)
        }
    }

    /// The lone call starts its work in place, calls among others in a task of their own
    /// (`SubmitsInFlight`): each gets its own answer either way.
    @Test(arguments: [Lane.durable, .fast])
    func aloneOrAmongOthersEachCallGetsItsAnswer(lane: Lane) async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", lane: lane, handler: Handlers.echo)
        try await gateway.test { client in
            #expect(try await client.post("/v1/jobs/echo", "lone").text == "lone")
            let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for index in 0..<32 {
                    group.addTask { (index, try await client.post("/v1/jobs/echo", "call \(index)").text) }
                }
                return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
            }
            #expect(answers.count == 32)
            for (index, answer) in answers { #expect(answer == "call \(index)") }
            #expect(try await client.post("/v1/jobs/echo", "lone again").text == "lone again")
        }
    }

    @Test func respondAsyncIs202WithLocationAtOnce() async throws {
        // A default wait far longer than any stall of a loaded box: a call that waited at all
        // would take 30 s for its 202.
        let gateway = ContractGateway { $0.defaultWait = .seconds(30) }
        gateway.backend.register("slow", handler: Handlers.held)
        try await gateway.test { client in
            let clock = ContinuousClock()
            let start = clock.now
            let response = try await client.post("/v1/jobs/slow", "{}", headers: [.prefer: "respond-async"])
            #expect(clock.now - start < .seconds(10))
            #expect(response.status == .accepted)
            #expect(response.header("Preference-Applied") == "respond-async")
            #expect(response.header("Retry-After") == "1")
            #expect(response.header("Content-Type") == "application/json")
            let id = try #require(response.header("Baton-Job-Id"))
            #expect(response.header("Location") == "/v1/jobs/\(id)")
            let status = try response.json()
            #expect(status["id"] as? String == id)
            #expect(status["service"] as? String == "slow")
            #expect(status["lane"] as? String == "durable")
            #expect(status["state"] as? String == "queued")
            let links = try #require(status["links"] as? [String: String])
            #expect(links == ["self": "/v1/jobs/\(id)", "result": "/v1/jobs/\(id)/result"])
        }
    }

    @Test(arguments: [Lane.durable, .fast])
    func waitThatElapsesSwitchesTo202(lane: Lane) async throws {
        let gateway = ContractGateway()
        gateway.backend.register("slow", lane: lane, handler: Handlers.held)
        try await gateway.test { client in
            let response = try await client.post("/v1/jobs/slow", "{}", headers: [.prefer: "wait=1"])
            #expect(response.status == .accepted)
            #expect(response.header("Preference-Applied") == "wait=1")
            #expect(response.header("Retry-After") == "1")
            let id = try #require(response.header("Baton-Job-Id"))
            #expect(response.header("Location") == "/v1/jobs/\(id)")
            #expect(try response.json()["state"] as? String == "running")
            // The job is recorded: anyone can follow it.
            let status = try await client.get("/v1/jobs/\(id)")
            #expect(status.status == .ok)
            #expect(try status.json()["lane"] as? String == lane.rawValue)
        }
    }

    /// A wait longer than `maxWait` is cut to it, and says so.
    @Test func waitIsCappedByMaxWait() async throws {
        let gateway = ContractGateway { $0.maxWait = .seconds(1) }
        gateway.backend.register("slow", handler: Handlers.held)
        try await gateway.test { client in
            let response = try await client.post("/v1/jobs/slow", "{}", headers: [.prefer: "wait=600"])
            #expect(response.status == .accepted)
            #expect(response.header("Preference-Applied") == "wait=1")
        }
    }

    /// `Prefer` values the gateway does not understand are ignored (RFC 7240), not refused.
    @Test func malformedPreferencesAreIgnored() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        try await gateway.test { client in
            for prefer in ["wait=soon", "wait=-3", "respond-later", ";;", "priority=urgent"] {
                let response = try await client.post("/v1/jobs/echo", "x", headers: [.prefer: prefer])
                #expect(response.status == .ok, "\(prefer)")
                #expect(response.text == "x", "\(prefer)")
                #expect(response.header("Preference-Applied") == nil, "\(prefer)")
            }
        }
    }

    @Test func priorityPreferenceIsAppliedAndRecorded() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("slow", handler: nil)
        try await gateway.test { client in
            let response = try await client.post("/v1/jobs/slow", "{}", headers: [.prefer: "respond-async, priority=high"])
            #expect(response.status == .accepted)
            #expect(response.header("Preference-Applied") == "respond-async, priority=high")
            #expect(try response.json()["priority"] as? String == "high")
            // The header wins over the preference, and is not echoed.
            let header = try await client.post("/v1/jobs/slow", "{}", headers: [.prefer: "respond-async, priority=high", .batonPriority: "low"])
            #expect(header.header("Preference-Applied") == "respond-async")
            #expect(try header.json()["priority"] as? String == "low")
        }
    }

    @Test func aFailedJobKeepsItsStatusAndProblem() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("fail", handler: Handlers.failing(422))
        try await gateway.test { client in
            let response = try await client.post("/v1/jobs/fail", "{}")
            try response.expectProblem(422, type: "/problems/job-failed")
            #expect(try response.json()["detail"] as? String == "not today")
            let id = try #require(response.header("Baton-Job-Id"))
            let status = try await client.get("/v1/jobs/\(id)").json()
            #expect(status["state"] as? String == "failed")
            #expect(status["status"] as? Int == 422)
            let result = try await client.get("/v1/jobs/\(id)/result")
            #expect(result.status.code == 422)
            #expect(result.body == response.body)
        }
    }

    @Test func aFastServiceWithNoWorkerIs503() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("gone", lane: .fast, handler: nil)
        try await gateway.test { client in
            try await client.post("/v1/jobs/gone", "x").expectProblem(503, type: "/problems/no-workers")
        }
    }

    @Test func respondAsyncOnTheFastLaneRecordsTheAnswerLater() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo-fast", lane: .fast, handler: Handlers.echo)
        try await gateway.test { client in
            let submit = try await client.post("/v1/jobs/echo-fast", "later", headers: [.prefer: "respond-async", .contentType: "text/plain"])
            #expect(submit.status == .accepted)
            #expect(try submit.json()["state"] as? String == "running")
            let location = try #require(submit.header("Location"))
            let result = try await client.get(location + "/result", headers: [.prefer: "wait=5"])
            #expect(result.status == .ok)
            #expect(result.text == "later")
            #expect(result.header("Content-Type") == "text/plain")
        }
    }

    @Test func callbackUrlNeedsWebhooksConfigured() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        try await gateway.test { client in
            let response = try await client.post("/v1/jobs/echo", "x", headers: [HTTPField.Name("Callback-Url")!: "https://example.com/hook"])
            try response.expectProblem(400, type: "/problems/webhooks-disabled")
        }
    }
}
