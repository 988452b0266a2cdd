@testable import BatonGateway
import BatonCore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// A job after its submit: status, result, long-poll, events, cancel.
@Suite("contract: a job", .timeLimit(.minutes(1)))
struct JobContractTests {
    /// A held durable job, submitted with `respond-async`; returns its id.
    private func submitHeld(_ client: some TestClientProtocol, headers: HTTPFields = [:]) async throws -> String {
        var headers = headers
        headers[.prefer] = "respond-async"
        let response = try await client.post("/v1/jobs/slow", "{}", headers: headers)
        #expect(response.status == .accepted)
        return try #require(response.header("Baton-Job-Id"))
    }

    private func gateway() -> ContractGateway {
        let gateway = ContractGateway()
        gateway.backend.register("slow", handler: Handlers.held)
        return gateway
    }

    @Test func statusThenResultWhileRunningAndOnceEnded() async throws {
        let gateway = gateway()
        try await gateway.test { client in
            let id = try await submitHeld(client)
            let running = try await client.get("/v1/jobs/\(id)")
            #expect(running.status == .ok)
            #expect(running.header("Retry-After") == "1")
            #expect(running.header("Baton-Job-Id") == id)
            let pending = try await client.get("/v1/jobs/\(id)/result")
            #expect(pending.status == .accepted)
            #expect(pending.header("Location") == "/v1/jobs/\(id)")
            #expect(["queued", "running"].contains(try pending.json()["state"] as? String))

            try gateway.backend.complete(id, with: JobAnswer(status: 201, contentType: "text/csv", body: ByteBuffer(string: "a,b")))
            let ended = try await client.get("/v1/jobs/\(id)")
            let status = try ended.json()
            #expect(status["state"] as? String == "succeeded")
            #expect(status["status"] as? Int == 201)
            #expect(status["finishedAt"] is String)
            #expect(ended.header("Retry-After") == nil)
            let result = try await client.get("/v1/jobs/\(id)/result")
            #expect(result.status.code == 201)
            #expect(result.text == "a,b")
            #expect(result.header("Content-Type") == "text/csv")
            #expect(result.header("Baton-Job-Id") == id)
        }
    }

    @Test func longPollReturnsAsSoonAsTheJobEnds() async throws {
        let gateway = gateway()
        try await gateway.test { client in
            let id = try await submitHeld(client)
            let backend = gateway.backend
            Task {
                try await Task.sleep(for: .milliseconds(200))
                try backend.complete(id, with: JobAnswer(status: 200, contentType: "text/plain", body: ByteBuffer(string: "done")))
            }
            let clock = ContinuousClock()
            let start = clock.now
            let result = try await client.get("/v1/jobs/\(id)/result", headers: [.prefer: "wait=20"])
            #expect(clock.now - start < .seconds(10))
            #expect(result.status == .ok)
            #expect(result.text == "done")
            #expect(result.header("Preference-Applied") == "wait=20")
            #expect(result.header("Vary") == "Prefer")
        }
    }

    @Test func longPollThatElapsesAnswersWithTheStatus() async throws {
        let gateway = gateway()
        try await gateway.test { client in
            let id = try await submitHeld(client)
            let status = try await client.get("/v1/jobs/\(id)", headers: [.prefer: "wait=1"])
            #expect(status.status == .ok)
            #expect(status.header("Preference-Applied") == "wait=1")
            #expect(try status.json()["state"] as? String == "running")
            let result = try await client.get("/v1/jobs/\(id)/result", headers: [.prefer: "wait=1"])
            #expect(result.status == .accepted)
            #expect(result.header("Location") == "/v1/jobs/\(id)")
            #expect(result.header("Preference-Applied") == "wait=1")
        }
    }

    @Test func cancelEndsTheJobAndCancelsItsWorker() async throws {
        let gateway = gateway()
        try await gateway.test { client in
            let id = try await submitHeld(client)
            let cancelled = try await client.delete("/v1/jobs/\(id)")
            #expect(cancelled.status == .ok)
            let status = try cancelled.json()
            #expect(status["state"] as? String == "cancelled")
            #expect(status["status"] as? Int == 409)
            #expect(cancelled.header("Retry-After") == nil)
            try await client.get("/v1/jobs/\(id)/result").expectProblem(409, type: "/problems/job-cancelled")
            // An ended job cannot be cancelled again; a worker's late answer does not replace the end.
            try await client.delete("/v1/jobs/\(id)").expectProblem(409, type: "/problems/job-ended")
            try gateway.backend.complete(id, with: JobAnswer(status: 200, body: ByteBuffer(string: "too late")))
            #expect(try await client.get("/v1/jobs/\(id)").json()["state"] as? String == "cancelled")
        }
    }

    @Test func cancelOfAJobThatEndedIs409() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        try await gateway.test { client in
            let id = try #require(try await client.post("/v1/jobs/echo", "x").header("Baton-Job-Id"))
            let response = try await client.delete("/v1/jobs/\(id)")
            try response.expectProblem(409, type: "/problems/job-ended")
            #expect(try await client.get("/v1/jobs/\(id)").json()["state"] as? String == "succeeded")
        }
    }

    @Test func eventsOfAnEndedJobAreStateThenDone() async throws {
        let gateway = ContractGateway()
        gateway.backend.register("echo", handler: Handlers.echo)
        try await gateway.test { client in
            let id = try #require(try await client.post("/v1/jobs/echo", "x").header("Baton-Job-Id"))
            let events = try await client.get("/v1/jobs/\(id)/events")
            #expect(events.status == .ok)
            #expect(events.header("Content-Type") == "text/event-stream")
            #expect(events.header("Baton-Job-Id") == id)
            let names = events.text.split(separator: "\n").filter { $0.hasPrefix("event: ") }
            #expect(names == ["event: state", "event: done"])
            #expect(events.text.contains(#""state":"succeeded""#))
        }
    }

    @Test func unknownAndInvalidJobIds() async throws {
        let gateway = gateway()
        try await gateway.test { client in
            let unknown = String(repeating: "0", count: 26)
            for path in ["/v1/jobs/\(unknown)", "/v1/jobs/\(unknown)/result", "/v1/jobs/\(unknown)/events"] {
                try await client.get(path).expectProblem(404, type: "/problems/unknown-job")
            }
            try await client.get("/v1/jobs/\(unknown)/result", headers: [.prefer: "wait=1"]).expectProblem(404, type: "/problems/unknown-job")
            try await client.delete("/v1/jobs/\(unknown)").expectProblem(404, type: "/problems/unknown-job")
            for path in ["/v1/jobs/not-an-id", "/v1/jobs/not-an-id/result", "/v1/jobs/NOT0AN0ID0BUT0LONG0ENOUGH0/events"] {
                try await client.get(path).expectProblem(400, type: "/problems/invalid-job-id")
            }
            try await client.delete("/v1/jobs/not-an-id").expectProblem(400, type: "/problems/invalid-job-id")
        }
    }
}
