import BatonCore
import BatonNATS
import BatonStore
import BatonTestSupport
import Foundation
import NIOCore
import Testing

/// A job the gateway marked not queued (its client got a `503`) whose first publish JetStream
/// stored all the same: the reply of a publish can be lost when a node dies (a chaos run's
/// nats-kill did exactly that). The client's retry with the same `Idempotency-Key` queues it
/// again; it runs exactly once, whichever copy a worker sees first.
///
/// The publish whose reply got lost is played by a real submit whose record is then marked the
/// way the gateway marks it after such a publish (`notQueued`); a gate with one slot, held,
/// keeps the first copy in the queue until the test lets it go.
@Suite("queued again after a 503", .timeLimit(.minutes(2)))
struct RequeueTests {
    /// A gate whose slot is held, and a job of `input` behind it, submitted with a fresh
    /// `Idempotency-Key` (`key`), whose record is marked not queued. The caller stops the gate.
    private func jobMarkedNotQueued(_ input: String) async throws -> (system: SharedSystem.System, gate: GateService, id: String, key: String) {
        let system = try await SharedSystem.get()
        let gate = try await GateService.start(natsURL: system.server.url)
        let client = system.client
        try await gate.hold(through: client)
        let key = UUID().uuidString
        let first = try await client.post("/v1/jobs/\(gate.name)", input, headers: ["Prefer": "respond-async", "Idempotency-Key": key])
        #expect(first.status == 202)
        let id = try #require(first.header("Baton-Job-Id"))
        let store = JobStore(jetStream: try JetStream(system.gateway.connection))
        let marked = try await store.update(id, .notQueued, by: .gateway) { record in
            record.error = "The job could not be queued."
            record.finishedAt = .now
            return true
        }
        #expect(marked?.record.state == .failed)
        #expect(try await client.get("/v1/jobs/\(id)").json()["state"] as? String == "failed")
        return (system, gate, id, key)
    }

    /// The first copy reaches a worker while the record says `failed`: acked unrun. Queued
    /// again under the job id as before, the retry's publish was dropped as a duplicate and the
    /// job stayed `queued` forever.
    @Test func aJobWhoseFirstCopyWasAckedUnrunRunsWhenQueuedAgain() async throws {
        let (system, gate, id, key) = try await jobMarkedNotQueued("7")
        defer { Task { await gate.stop() } }
        let client = system.client
        gate.release()
        // One slot, taken in order: once a job queued after it ran, the first copy was taken.
        #expect(try await client.post("/v1/jobs/\(gate.name)", "8", headers: ["Prefer": "wait=20"]).text == "8")
        #expect(!gate.started.contains("7"))

        let retry = try await client.post("/v1/jobs/\(gate.name)", "7", headers: ["Prefer": "wait=20", "Idempotency-Key": key])
        #expect(retry.status == 200)
        #expect(retry.text == "7")
        #expect(retry.header("Baton-Job-Id") == id)
        #expect(gate.started.filter { $0 == "7" }.count == 1)
        let status = try await client.get("/v1/jobs/\(id)").json()
        #expect(status["state"] as? String == "succeeded")
        #expect(status["queuedAs"] is String)
    }

    /// The retry comes while the first copy still waits: two copies are queued, and only the
    /// second runs the job (the first is stale). A third copy without `Baton-Queued-As`,
    /// published on `high` so that it is taken first while the record is `queued`, shows that
    /// a stale copy is acked unrun rather than run.
    @Test func aFirstCopyStillQueuedDoesNotRunTheJobASecondTime() async throws {
        let (system, gate, id, key) = try await jobMarkedNotQueued("9")
        defer { Task { await gate.stop() } }
        let client = system.client
        let retry = try await client.post("/v1/jobs/\(gate.name)", "9", headers: ["Prefer": "respond-async", "Idempotency-Key": key])
        #expect(retry.status == 202)
        #expect(retry.header("Baton-Job-Id") == id)
        #expect(try await client.get("/v1/jobs/\(id)").json()["state"] as? String == "queued")
        var headers = NATSHeaders()
        headers[Headers.jobID] = id
        try await JetStream(system.gateway.connection).publish(
            ByteBuffer(string: "stale"), to: Subjects.job(service: gate.name, priority: .high), headers: headers)
        gate.release()

        #expect(try await client.get("/v1/jobs/\(id)/result", headers: ["Prefer": "wait=20"]).text == "9")
        // Both copies were taken once a job queued after them ran.
        #expect(try await client.post("/v1/jobs/\(gate.name)", "10", headers: ["Prefer": "wait=20"]).text == "10")
        #expect(gate.started.filter { $0 == "9" }.count == 1)
        #expect(!gate.started.contains("stale"))
        let status = try await client.get("/v1/jobs/\(id)").json()
        #expect(status["state"] as? String == "succeeded")
        #expect(status["attempts"] as? Int == 1)
    }
}
