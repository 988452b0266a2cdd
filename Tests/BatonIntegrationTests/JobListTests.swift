import BatonCore
import BatonNATS
import BatonStore
import NIOCore
import Testing

/// The job list (`JobStore.list`) on a real nats-server: newest first, filtered by service,
/// state and owner, paged by cursor. Records of a service name of its own, so the other tests'
/// jobs on the shared server do not show.
@Suite("job list", .timeLimit(.minutes(1)))
struct JobListTests {
    /// `count` queued records of `service`, oldest first; the ones at `failed` end failed.
    private func makeJobs(_ store: JobStore, service: String, count: Int, failed: Set<Int> = [], owner: (Int) -> String? = { _ in nil }) async throws -> [String] {
        var ids: [String] = []
        for i in 0..<count {
            var record = try JobRecord(.accept, by: .gateway, id: JobID.make(), service: service, lane: .durable)
            record.owner = owner(i)
            try await store.create(record, by: .gateway)
            ids.append(record.id)
        }
        for i in failed {
            let ending = JobEnding(answer: JobAnswer(status: 500, body: ByteBuffer(string: "no")), state: .failed, service: service, error: "no")
            _ = try await store.finish(ids[i], by: .worker, ending: ending, webhook: false)
        }
        return ids
    }

    @Test func newestFirstFilteredAndPaged() async throws {
        let system = try await SharedSystem.get()
        let store = JobStore(jetStream: try JetStream(system.gateway.connection))
        let service = "list-\(UInt32.random(in: 0...UInt32.max))"
        let ids = try await makeJobs(store, service: service, count: 7, failed: [1, 4])

        let all = try await store.list(JobQuery(service: service, limit: 100))
        #expect(all.jobs.map(\.id) == ids.reversed(), "newest first")
        #expect(all.jobs.filter { $0.state == .failed }.map(\.id) == [ids[4], ids[1]], "the end is merged in")

        let failed = try await store.list(JobQuery(service: service, state: .failed, limit: 100))
        #expect(failed.jobs.map(\.id) == [ids[4], ids[1]])
        #expect(try await store.list(JobQuery(service: service, state: .succeeded, limit: 100)).jobs.isEmpty)

        var pages: [[String]] = []
        var query = JobQuery(service: service, limit: 3)
        while pages.count < 10 {
            let page = try await store.list(query)
            pages.append(page.jobs.map(\.id))
            guard let next = page.next else { break }
            query.before = next
        }
        #expect(pages.flatMap { $0 } == ids.reversed(), "pages: \(pages)")
        #expect(pages.first?.count == 3)
    }

    /// `GET /v1/jobs` over the records in KV: status documents, `next` to page on (bad input:
    /// `ListContractTests`, `ProblemContractTests` in BatonGatewayTests).
    @Test func overHTTP() async throws {
        let system = try await SharedSystem.get()
        let store = JobStore(jetStream: try JetStream(system.gateway.connection))
        let service = "list-\(UInt32.random(in: 0...UInt32.max))"
        let ids = try await makeJobs(store, service: service, count: 3, failed: [0])

        let first = try await system.client.get("/v1/jobs?service=\(service)&limit=2")
        #expect(first.status == 200)
        let page = try first.json()
        let jobs = page["jobs"] as? [[String: Any]] ?? []
        #expect(jobs.map { $0["id"] as? String } == [ids[2], ids[1]])
        #expect(jobs.first?["state"] as? String == "queued")
        #expect((jobs.first?["links"] as? [String: Any])?["self"] as? String == "/v1/jobs/\(ids[2])")
        let next = try #require(page["next"] as? String)
        let second = try await system.client.get(next).json()
        let rest = second["jobs"] as? [[String: Any]] ?? []
        #expect(rest.map { $0["id"] as? String } == [ids[0]])
        #expect(rest.first?["state"] as? String == "failed")

        let failed = try await system.client.get("/v1/jobs?service=\(service)&state=failed").json()
        #expect((failed["jobs"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[0]])
    }

    @Test func anOwnerSeesOnlyItsJobs() async throws {
        let system = try await SharedSystem.get()
        let store = JobStore(jetStream: try JetStream(system.gateway.connection))
        let service = "list-\(UInt32.random(in: 0...UInt32.max))"
        let ids = try await makeJobs(store, service: service, count: 4, owner: { $0.isMultiple(of: 2) ? "alice" : "bob" })
        let alice = try await store.list(JobQuery(service: service, owner: "alice", limit: 100))
        #expect(alice.jobs.map(\.id) == [ids[2], ids[0]])
        #expect(alice.jobs.allSatisfy { $0.owner == "alice" })
    }
}
