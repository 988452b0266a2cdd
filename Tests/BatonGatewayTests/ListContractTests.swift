@testable import BatonGateway
import BatonCore
import BatonStore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// `GET /v1/jobs`, `GET /v1/services`, `GET /v1/dead-letters` and a dead letter's replay.
@Suite("contract: lists and replays", .timeLimit(.minutes(1)))
struct ListContractTests {
    @Test func jobListIsNewestFirstFilteredAndPaged() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        gateway.backend.register("fail", handler: Handlers.failing(500))
        try await gateway.test { client in
            var ids: [String] = []
            for service in ["echo", "fail", "echo", "echo", "fail"] {
                ids.append(try #require(try await client.post("/v1/jobs/\(service)", "x").header("Baton-Job-Id")))
            }
            let all = try await client.get("/v1/jobs")
            #expect(all.status == .ok)
            #expect(all.header("Content-Type") == "application/json")
            let jobs = try #require(try all.json()["jobs"] as? [[String: Any]])
            #expect(jobs.compactMap { $0["id"] as? String } == ids.reversed())
            #expect((jobs.first?["links"] as? [String: String])?["self"] == "/v1/jobs/\(ids[4])")

            let failed = try await client.get("/v1/jobs?state=failed").json()["jobs"] as? [[String: Any]]
            #expect(failed?.compactMap { $0["id"] as? String } == [ids[4], ids[1]])
            let echoes = try await client.get("/v1/jobs?service=echo").json()["jobs"] as? [[String: Any]]
            #expect(echoes?.compactMap { $0["id"] as? String } == [ids[3], ids[2], ids[0]])

            // Pages of two, following `next` (which keeps the filter).
            var pages: [[String]] = []
            var next: String? = "/v1/jobs?service=echo&state=succeeded&limit=2"
            while let uri = next, pages.count < 5 {
                let page = try await client.get(uri).json()
                pages.append((page["jobs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
                next = page["next"] as? String
                if let next { #expect(next.hasPrefix("/v1/jobs?service=echo&state=succeeded&limit=2&cursor=c")) }
            }
            #expect(pages.flatMap { $0 } == [ids[3], ids[2], ids[0]])
            #expect(pages.first?.count == 2)
        }
    }

    @Test func servicesListsTheRegisteredOnes() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        gateway.backend.register("echo-fast", lane: .fast, handler: Handlers.echo)
        try await gateway.test { client in
            let response = try await client.get("/v1/services")
            #expect(response.status == .ok)
            #expect(response.header("Content-Type") == "application/json")
            let services = try #require(try response.json()["services"] as? [[String: Any]])
            #expect(services.compactMap { $0["name"] as? String } == ["echo", "echo-fast"])
            #expect(services.compactMap { $0["lane"] as? String } == ["durable", "fast"])
        }
    }

    @Test func aJobsDeadLetterIsReplayedOnceAsANewJob() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        let dead = JobID.make()
        let sequence = gateway.backend.addDeadLetter(kind: .job, job: dead, service: "echo", input: "again")
        try await gateway.test { client in
            let list = try await client.get("/v1/dead-letters").json()
            let entry = try #require((list["deadLetters"] as? [[String: Any]])?.first)
            #expect(entry["sequence"] as? Int == Int(sequence))
            #expect(entry["kind"] as? String == "job")
            #expect(entry["job"] as? String == dead)
            #expect(entry["size"] as? Int == 5)
            #expect(entry["replayedAs"] == nil)

            let replay = try await client.post("/v1/dead-letters/\(sequence)/replay")
            #expect(replay.status == .accepted)
            let id = try #require(replay.header("Baton-Job-Id"))
            #expect(id != dead)
            #expect(replay.header("Location") == "/v1/jobs/\(id)")
            #expect(try replay.json()["replayOf"] as? String == dead)

            let again = try await client.post("/v1/dead-letters/\(sequence)/replay")
            #expect(again.status == .accepted)
            #expect(again.header("Baton-Job-Id") == id)
            #expect(again.header("Idempotent-Replayed") == "true")
            let listed = try await client.get("/v1/dead-letters").json()
            #expect((listed["deadLetters"] as? [[String: Any]])?.first?["replayedAs"] as? String == id)
            let result = try await client.get("/v1/jobs/\(id)/result", headers: [.prefer: "wait=5"])
            #expect(result.text == "again")
        }
    }

    @Test func deadLettersPageOn() async throws {
        let gateway = ContractGateway()
        for i in 0..<3 { gateway.backend.addDeadLetter(kind: .job, job: JobID.make(), service: "echo", input: "\(i)") }
        try await gateway.test { client in
            let first = try await client.get("/v1/dead-letters?limit=2").json()
            #expect((first["deadLetters"] as? [[String: Any]])?.compactMap { $0["sequence"] as? Int } == [1, 2])
            let next = try #require(first["next"] as? String)
            #expect(next == "/v1/dead-letters?after=2&limit=2")
            let second = try await client.get(next).json()
            #expect((second["deadLetters"] as? [[String: Any]])?.compactMap { $0["sequence"] as? Int } == [3])
            #expect(second["next"] == nil)
        }
    }
}
