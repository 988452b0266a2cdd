@testable import BatonGateway
import BatonCore
import BatonStore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// With API keys on: `/v1/` needs a key, a job belongs to the key that created it, and to any
/// other key it does not exist.
@Suite("contract: API keys and ownership", .timeLimit(.minutes(1)))
struct OwnershipContractTests {
    private func gateway(keys: String = TestKeys.file) -> ContractGateway {
        let gateway = ContractGateway { $0.apiKeys = try! APIKeys(parsing: keys) }
        gateway.backend.register("slow", handler: Handlers.held)
        gateway.backend.register("echo", handler: Handlers.echo)
        return gateway
    }

    @Test func aKeyIsRequiredOnTheAPIOnly() async throws {
        try await gateway().test { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer wrong-secret-0123456789"], [.authorization: TestKeys.alice]] {
                let response = try await client.post("/v1/jobs/echo", "x", headers: headers)
                try response.expectProblem(401, type: "/problems/unauthorized")
                #expect(response.header("WWW-Authenticate") == #"Bearer realm="baton""#)
            }
            #expect(try await client.get("/healthz").status == .ok)
            #expect(try await client.get("/openapi.json").status == .ok)
            #expect(try await client.post("/v1/jobs/echo", "x", headers: TestKeys.bearer(TestKeys.alice)).status == .ok)
        }
    }

    @Test func anotherKeysJobDoesNotExist() async throws {
        let gateway = gateway()
        try await gateway.test { client in
            var headers = TestKeys.bearer(TestKeys.alice)
            headers[.prefer] = "respond-async"
            let submit = try await client.post("/v1/jobs/slow", "{}", headers: headers)
            let id = try #require(submit.header("Baton-Job-Id"))
            #expect(try submit.json()["owner"] as? String == "alice")

            let bob = TestKeys.bearer(TestKeys.bob)
            for path in ["/v1/jobs/\(id)", "/v1/jobs/\(id)/result", "/v1/jobs/\(id)/events"] {
                try await client.get(path, headers: bob).expectProblem(404, type: "/problems/unknown-job")
            }
            var longPoll = bob
            longPoll[.prefer] = "wait=1"
            try await client.get("/v1/jobs/\(id)/result", headers: longPoll).expectProblem(404, type: "/problems/unknown-job")
            try await client.delete("/v1/jobs/\(id)", headers: bob).expectProblem(404, type: "/problems/unknown-job")
            // Bob's cancel did nothing; Alice's works.
            let alice = TestKeys.bearer(TestKeys.alice)
            #expect(try await client.get("/v1/jobs/\(id)", headers: alice).json()["state"] as? String != "cancelled")
            #expect(try await client.delete("/v1/jobs/\(id)", headers: alice).status == .ok)
        }
    }

    @Test func theListShowsTheCallersJobsOnly() async throws {
        try await gateway().test { client in
            var ids: [String: [String]] = [:]
            for (name, secret) in [("alice", TestKeys.alice), ("bob", TestKeys.bob), ("alice", TestKeys.alice)] {
                let response = try await client.post("/v1/jobs/echo", name, headers: TestKeys.bearer(secret))
                ids[name, default: []].append(try #require(response.header("Baton-Job-Id")))
            }
            let alice = try await client.get("/v1/jobs", headers: TestKeys.bearer(TestKeys.alice)).json()
            let jobs = try #require(alice["jobs"] as? [[String: Any]])
            #expect(jobs.compactMap { $0["id"] as? String } == ids["alice"]?.reversed())
            #expect(jobs.allSatisfy { $0["owner"] as? String == "alice" })
        }
    }

    @Test func anotherKeysDeadLetterDoesNotExist() async throws {
        let gateway = gateway()
        let sequence = gateway.backend.addDeadLetter(kind: .job, job: JobID.make(), service: "echo", owner: "alice", input: "again")
        try await gateway.test { client in
            let bob = TestKeys.bearer(TestKeys.bob)
            let list = try await client.get("/v1/dead-letters", headers: bob).json()
            #expect((list["deadLetters"] as? [Any])?.isEmpty == true)
            try await client.post("/v1/dead-letters/\(sequence)/replay", headers: bob).expectProblem(404, type: "/problems/unknown-dead-letter")
            let alice = try await client.get("/v1/dead-letters", headers: TestKeys.bearer(TestKeys.alice)).json()
            #expect((alice["deadLetters"] as? [Any])?.count == 1)
        }
    }

    /// `name:secret:rate`: a burst of twice the rate, then 429 with `Retry-After`.
    @Test func aKeysRateLimitIs429() async throws {
        try await gateway(keys: "carol:carol-secret-0123456789:1").test { client in
            let carol = TestKeys.bearer("carol-secret-0123456789")
            #expect(try await client.post("/v1/jobs/echo", "1", headers: carol).status == .ok)
            #expect(try await client.post("/v1/jobs/echo", "2", headers: carol).status == .ok)
            let limited = try await client.post("/v1/jobs/echo", "3", headers: carol)
            try limited.expectProblem(429, type: "/problems/rate-limited")
            #expect(limited.header("Retry-After") == "1")
        }
    }
}
