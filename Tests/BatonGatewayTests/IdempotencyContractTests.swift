@testable import BatonGateway
import BatonCore
import BatonStore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

/// `Idempotency-Key`: the same key and request give the same job; another request under the
/// key is a 422; keys are the caller's own.
@Suite("contract: idempotency", .timeLimit(.minutes(1)))
struct IdempotencyContractTests {
    @Test(arguments: [Lane.durable, .fast])
    func theSameRequestReturnsTheSameJob(lane: Lane) async throws {
        let gateway = ContractGateway()
        let runs = Counter()
        gateway.backend.register("charge", lane: lane) { job in
            runs.increment()
            return JobAnswer(status: 200, contentType: "text/plain", body: ByteBuffer(string: "charged \(String(buffer: job.input))"))
        }
        try await gateway.test { client in
            let headers: HTTPFields = [.idempotencyKey: "order-42", .contentType: "text/plain"]
            let first = try await client.post("/v1/jobs/charge", "10", headers: headers)
            #expect(first.status == .ok)
            #expect(first.text == "charged 10")
            #expect(first.header("Idempotent-Replayed") == nil)
            let id = try #require(first.header("Baton-Job-Id"))

            let again = try await client.post("/v1/jobs/charge", "10", headers: headers)
            #expect(again.status == .ok)
            #expect(again.text == "charged 10")
            #expect(again.header("Baton-Job-Id") == id)
            #expect(again.header("Idempotent-Replayed") == "true")
            #expect(again.header("Location") == "/v1/jobs/\(id)")
            #expect(runs.value == 1)
        }
    }

    @Test func anotherBodyOrContentTypeUnderTheKeyIs422() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        try await gateway.test { client in
            let first = try await client.post("/v1/jobs/echo", "charge 10", headers: [.idempotencyKey: "order-43"])
            let id = try #require(first.header("Baton-Job-Id"))
            let body = try await client.post("/v1/jobs/echo", "charge 99", headers: [.idempotencyKey: "order-43"])
            try body.expectProblem(422, type: "/problems/idempotency-key-reused")
            #expect(try body.json()["job_id"] as? String == id)
            let type = try await client.post("/v1/jobs/echo", "charge 10", headers: [.idempotencyKey: "order-43", .contentType: "text/plain"])
            try type.expectProblem(422, type: "/problems/idempotency-key-reused")
        }
    }

    /// A retry while the first job still runs gets that job's `202`.
    @Test func aRetryWhileTheJobRunsGetsIts202() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("slow", handler: Handlers.held)
        try await gateway.test { client in
            let headers: HTTPFields = [.idempotencyKey: "report-1", .prefer: "respond-async"]
            let first = try await client.post("/v1/jobs/slow", "{}", headers: headers)
            #expect(first.status == .accepted)
            let id = try #require(first.header("Baton-Job-Id"))
            let again = try await client.post("/v1/jobs/slow", "{}", headers: headers)
            #expect(again.status == .accepted)
            #expect(again.header("Baton-Job-Id") == id)
            #expect(again.header("Location") == "/v1/jobs/\(id)")
            #expect(again.header("Idempotent-Replayed") == "true")
            #expect(try await gateway.backend.list(.init(limit: 10)).jobs.map(\.id) == [id])
        }
    }

    @Test func keysAreScopedToTheCaller() async throws {
        let gateway = ContractGateway { $0.apiKeys = try! APIKeys(parsing: TestKeys.file) }
        gateway.backend.register("echo", handler: Handlers.echo)
        try await gateway.test { client in
            var alice = TestKeys.bearer(TestKeys.alice)
            alice[.idempotencyKey] = "same-key"
            var bob = TestKeys.bearer(TestKeys.bob)
            bob[.idempotencyKey] = "same-key"
            let first = try await client.post("/v1/jobs/echo", "alice's", headers: alice)
            let other = try await client.post("/v1/jobs/echo", "bob's", headers: bob)
            #expect(first.status == .ok)
            #expect(other.status == .ok)
            #expect(other.text == "bob's")
            #expect(other.header("Baton-Job-Id") != first.header("Baton-Job-Id"))
            #expect(other.header("Idempotent-Replayed") == nil)
        }
    }
}

/// A count the handlers bump.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
