import BatonCore
import BatonNATS
import BatonStore
import BatonTestSupport
import Foundation
import Testing

/// A record the gateway makes before its job's publish (a webhook or an `Idempotency-Key`)
/// says `publishing` until the gateway has seen the job stored. A gateway that stops in
/// between — killed after the record's write, before the publish — leaves a record no queue
/// backs: readers end it `notQueued` once `JobRecord.strandingGrace` has passed, so that it
/// does not say `queued` for ever.
///
/// The stopped gateway is played by records written as a gateway writes them, backdated.
@Suite("a record whose job was never stored", .timeLimit(.minutes(2)))
struct StrandedRecordTests {
    /// A record as the gateway writes it before the publish, made `age` ago, with no job behind it.
    private func strandedRecord(age: Duration, attempts: Int = 0, service: String = "echo") async throws -> (JobStore, String) {
        let system = try await SharedSystem.get()
        let store = JobStore(jetStream: try JetStream(system.gateway.connection))
        var record = try JobRecord(
            .accept, by: .gateway, id: JobID.make(), service: service, lane: .durable, createdAt: Timestamp.now.adding(.zero - age))
        record.publishing = true
        record.attempts = attempts
        try await store.create(record, by: .gateway)
        return (store, record.id)
    }

    @Test func aRecordWhoseGatewayStoppedBeforeThePublishEndsWhenRead() async throws {
        let client = try await SharedSystem.get().client
        let (store, id) = try await strandedRecord(age: .seconds(61))
        let status = try await client.get("/v1/jobs/\(id)")
        #expect(status.status == 200)
        let json = try status.json()
        #expect(json["state"] as? String == "failed")
        #expect(json["error"] as? String == JobStore.strandedError)
        #expect(json["publishing"] == nil)
        #expect(json["finishedAt"] is String)
        let stored = try #require(try await store.record(id, fromLeaders: true))
        #expect(stored.record.state == .failed)
        #expect(stored.record.publishing == nil)

        // A long-poll of another such record answers at once, not at the end of its wait.
        let (_, other) = try await strandedRecord(age: .seconds(90))
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await client.get("/v1/jobs/\(other)/result", headers: ["Prefer": "wait=20"])
        #expect(result.status == 404)
        #expect(try result.json()["type"] as? String == "/problems/no-result")  // ended, and no answer on any replica
        #expect(clock.now - start < .seconds(10))
        #expect(try await client.get("/v1/jobs/\(other)").json()["state"] as? String == "failed")
    }

    @Test func theListingShowsItEnded() async throws {
        let client = try await SharedSystem.get().client
        let service = "stranded-\(UInt32.random(in: 0...UInt32.max))"
        let (_, id) = try await strandedRecord(age: .seconds(61), service: service)
        let page = try await client.get("/v1/jobs?service=\(service)").json()
        let jobs = try #require(page["jobs"] as? [[String: Any]])
        #expect(jobs.count == 1)
        #expect(jobs.first?["id"] as? String == id)
        #expect(jobs.first?["state"] as? String == "failed")
        let queued = try await client.get("/v1/jobs?service=\(service)&state=queued").json()
        #expect((queued["jobs"] as? [[String: Any]])?.isEmpty == true)
    }

    /// Within the grace its publish may still be on its way; a job handed back after an attempt
    /// was stored (a worker had it): neither is touched.
    @Test func aYoungRecordAndARetriedJobStayQueued() async throws {
        let client = try await SharedSystem.get().client
        let (_, young) = try await strandedRecord(age: .seconds(5))
        #expect(try await client.get("/v1/jobs/\(young)").json()["state"] as? String == "queued")
        let (store, retried) = try await strandedRecord(age: .seconds(120), attempts: 1)
        #expect(try await client.get("/v1/jobs/\(retried)").json()["state"] as? String == "queued")
        #expect(try await store.record(retried, fromLeaders: true)?.record.state == .queued)
    }

    /// The gateway's own jobs: the record says `publishing` from its first write, and stops
    /// once the job is stored — here while the job waits in the queue behind a held gate, so no
    /// worker has touched it. (Every record write is a publish on `$KV.baton-jobs.<id>`: a
    /// plain subscriber sees them all.)
    @Test func aJobRecordedBeforeItsPublishIsConfirmedOnceStored() async throws {
        let system = try await SharedSystem.get()
        let gate = try await GateService.start(natsURL: system.server.url)
        defer { Task { await gate.stop() } }
        try await gate.hold(through: system.client)
        let writes = try system.gateway.connection.subscribe(to: "$KV.\(Streams.recordsBucket).*", bufferLimit: 100_000)
        defer { writes.unsubscribe() }
        let submit = try await system.client.post(
            "/v1/jobs/\(gate.name)", "1", headers: ["Prefer": "respond-async", "Idempotency-Key": UUID().uuidString])
        #expect(submit.status == 202)
        #expect(try submit.json()["publishing"] == nil)
        let id = try #require(submit.header("Baton-Job-Id"))
        let store = JobStore(jetStream: try JetStream(system.gateway.connection))
        let stored = try #require(try await store.record(id, fromLeaders: true))
        #expect(stored.record.state == .queued)
        #expect(stored.record.publishing == nil)
        #expect(!gate.started.contains("1"))

        var seen: [JobRecord] = []
        for await write in writes where write.subject.hasSuffix(".\(id)") {
            seen.append(try JSON.decode(JobRecord.self, from: write.payload))
            if seen.count == 2 { break }
        }
        #expect(seen.map(\.publishing) == [true, nil])
        #expect(seen.map(\.state) == [.queued, .queued])
        gate.release()
        try await waitUntil(timeout: .seconds(30)) { gate.started.contains("1") }
    }
}
