@testable import BatonGateway
import BatonCore
import BatonStore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// Bad input gets an RFC 9457 problem document and a 4xx, never a 5xx.
@Suite("contract: problem documents", .timeLimit(.minutes(1)))
struct ProblemContractTests {
    @Test func unknownAndInvalidServices() async throws {
        try await ContractGateway().test { client in
            try await client.post("/v1/jobs/no-such-service", "x").expectProblem(404, type: "/problems/unknown-service")
            try await client.post("/v1/jobs/bad.name", "x").expectProblem(400, type: "/problems/invalid-service-name")
            try await client.get("/v2/nothing").expectProblem(404, type: "/problems/not-found")
        }
    }

    /// Checked before the service is looked up or the body read.
    @Test func oversizedBodyIs413() async throws {
        var gateway = ContractGateway()
        gateway.maxBody = 64
        gateway.backend.register("echo", handler: Handlers.echo)
        try await gateway.test { client in
            try await client.post("/v1/jobs/echo", String(repeating: "x", count: 65)).expectProblem(413, type: "/problems/body-too-large")
            try await client.post("/v1/jobs/no-such-service", String(repeating: "x", count: 65)).expectProblem(413)
            #expect(try await client.post("/v1/jobs/echo", String(repeating: "x", count: 64)).status == .ok)
        }
    }

    @Test(arguments: [
        (HTTPField.Name("Baton-Priority")!, "urgent"),
        (HTTPField.Name("Baton-Deadline")!, "tomorrow"),
        (HTTPField.Name("Baton-Deadline")!, "2001-01-01T00:00:00Z"),
        (HTTPField.Name("Idempotency-Key")!, String(repeating: "k", count: 256)),
        (HTTPField.Name("Idempotency-Key")!, "tab\there"),
    ])
    func malformedSubmitHeadersAre400(name: HTTPField.Name, value: String) async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        try await gateway.test { client in
            try await client.post("/v1/jobs/echo", "x", headers: [name: value]).expectProblem(400, type: "/problems/bad-request")
        }
        // Nothing was submitted.
        #expect(try await gateway.backend.list(.init(limit: 10)).jobs.isEmpty)
    }

    @Test func malformedListQueriesAre400() async throws {
        try await ContractGateway().test { client in
            for bad in ["state=finished", "limit=0", "limit=201", "limit=x", "cursor=12", "cursor=c!", "cursor=czzzzzzzzzzzzzzz", "service=no%20such"] {
                try await client.get("/v1/jobs?\(bad)").expectProblem(400, type: "/problems/bad-request")
            }
            for bad in ["after=x", "after=-1", "limit=0", "limit=1001", "order=sideways", "after=1&before=5", "before=0", "job=nope"] {
                try await client.get("/v1/dead-letters?\(bad)").expectProblem(400, type: "/problems/bad-request")
            }
            for bad in ["0", "x", "-1", "99999999999999999999"] {
                try await client.post("/v1/dead-letters/\(bad)/replay").expectProblem(400, type: "/problems/bad-request")
            }
            try await client.post("/v1/dead-letters/7/replay").expectProblem(404, type: "/problems/unknown-dead-letter")
        }
    }

    @Test func readinessFollowsTheBackend() async throws {
        let gateway = ContractGateway()
        try await gateway.test { client in
            #expect(try await client.get("/healthz").status == .ok)
            let ready = try await client.get("/readyz")
            #expect(ready.status == .ok)
            #expect(try ready.json()["status"] as? String == "ready")
            gateway.backend.setUnready(.unavailable("Not connected to NATS."))
            let unready = try await client.get("/readyz")
            try unready.expectProblem(503, type: "/problems/unavailable")
            #expect(unready.header("Retry-After") == "1")
            #expect(try await client.get("/healthz").status == .ok)
        }
    }
}
