import BatonCore
import BatonGateway
import BatonNATS
import BatonObservability
import BatonTestSupport
import BatonWorker
import Foundation
import Testing

/// What operators rely on: metrics, trace propagation, API keys and ownership, rate limits.
@Suite("operators", .timeLimit(.minutes(2)))
struct OperatorTests {
    // MARK: - Metrics

    @Test func metricsScrapeParsesAndMovesAfterACall() async throws {
        let client = try await SharedSystem.get().client
        func sample(_ text: String, _ name: String, _ labels: [String]) -> Double {
            text.split(separator: "\n").filter { line in
                line.hasPrefix(name) && labels.allSatisfy { line.contains($0) }
            }.compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
        let before = try await client.get("/metrics")
        #expect(before.status == 200)
        #expect(before.header("Content-Type")?.hasPrefix("text/plain") == true)
        // Every line is a comment or `name{labels} value`.
        for line in before.text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(Double(line.split(separator: " ").last ?? "") != nil, "unparsable: \(line)")
        }
        let count = sample(before.text, "baton_request_duration_seconds_count", [#"service="echo""#, #"outcome="sync""#])
        #expect(try await client.post("/v1/jobs/echo", "metrics").status == 200)
        let after = try await client.get("/metrics").text
        // Other tests call echo at the same time: at least this call is counted.
        #expect(sample(after, "baton_request_duration_seconds_count", [#"service="echo""#, #"outcome="sync""#]) >= count + 1)
        // Errors for services nobody registered are counted under service="unknown" (a client
        // cannot grow the label set).
        let unknownBefore = sample(after, "baton_request_duration_seconds_count", [#"service="unknown""#, #"outcome="error""#])
        #expect(try await client.post("/v1/jobs/nosuch-\(UInt32.random(in: 0...UInt32.max))", "x").status == 404)
        let later = try await client.get("/metrics").text
        #expect(sample(later, "baton_request_duration_seconds_count", [#"service="unknown""#, #"outcome="error""#]) >= unknownBefore + 1)
        #expect(!later.contains("nosuch-"))
        #expect(sample(after, "baton_jobs_submitted_total", [#"service="echo""#]) >= 1)
        #expect(after.contains("# TYPE baton_request_duration_seconds histogram"))
    }

    // MARK: - Tracing

    @Test func traceparentReachesTheHandler() async throws {
        let system = try await SharedSystem.get()
        let name = "trace-\(UInt32.random(in: 0...UInt32.max))"
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [system.server.url], name: name), logger: quietLogger("test.trace"))
        defer { Task { await connection.close() } }
        let service = ServiceDefinition(name: name) { job, _ in
            JobAnswer(status: 200, contentType: "text/plain", body: .init(string: job.trace?.traceparent ?? "none"))
        }
        let worker = Worker(connection: connection, services: [service], configuration: WorkerConfiguration(workerID: name), logger: quietLogger("test.trace"))
        Task { try await worker.run() }
        try await waitUntil(timeout: .seconds(10)) { (try? await system.client.post("/v1/jobs/\(name)", "").status) == 200 }

        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let response = try await system.client.post(
            "/v1/jobs/\(name)", "", headers: ["traceparent": "00-\(traceID)-00f067aa0ba902b7-01", "tracestate": "vendor=x"])
        let seen = try #require(TraceContext(traceparent: response.text))
        #expect(seen.traceID == traceID)
        #expect(seen.parentID != "00f067aa0ba902b7")  // the gateway's own span
        #expect(seen.flags == "01")  // the caller's sampling decision passes on
        let unsampled = try await system.client.post("/v1/jobs/\(name)", "", headers: ["traceparent": "00-\(traceID)-00f067aa0ba902b7-00"])
        #expect(try #require(TraceContext(traceparent: unsampled.text)).flags == "00")
        // Without one, the gateway starts a trace, unsampled: this gateway records no spans.
        let started = try await system.client.post("/v1/jobs/\(name)", "")
        let new = try #require(TraceContext(traceparent: started.text))
        #expect(new.traceID != traceID)
        #expect(new.flags == "00")
        // A malformed traceparent is ignored, not an error.
        #expect(try await system.client.post("/v1/jobs/\(name)", "", headers: ["traceparent": "garbage"]).status == 200)
    }

    // MARK: - API keys

    @Test func apiKeysOwnershipAndRateLimit() async throws {
        let system = try await SharedSystem.get()
        let gateway = try await TestGateway.start(natsURL: system.server.url) { configuration in
            configuration.webhooks = testWebhooks(enabled: false)
            configuration.apiKeys = try! APIKeys(parsing: "alice:alice-secret-0123456789\nbob:bob-secret-0123456789abc\nslow:slow-secret-0123456789:0.1")
        }
        defer { Task { await gateway.connection.close() } }
        let client = gateway.client
        let alice = ["Authorization": "Bearer alice-secret-0123456789"]
        let bob = ["Authorization": "Bearer bob-secret-0123456789abc"]

        let anonymous = try await client.post("/v1/jobs/echo", "x")
        #expect(anonymous.status == 401)
        #expect(anonymous.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(try anonymous.json()["type"] as? String == "/problems/unauthorized")
        #expect(try await client.post("/v1/jobs/echo", "x", headers: ["Authorization": "Bearer wrong-key-0123456789"]).status == 401)
        #expect(try await client.get("/healthz").status == 200)  // probes stay open

        let submit = try await client.post("/v1/jobs/echo", "mine", headers: alice.merging(["Prefer": "respond-async"]) { $1 })
        #expect(submit.status == 202)
        let location = try #require(submit.header("Location"))
        #expect(try await client.get(location, headers: alice).status == 200)
        #expect(try await client.get(location + "/result", headers: ["Prefer": "wait=5"].merging(alice) { $1 }).text == "mine")
        // Someone else's job does not exist for them.
        for path in [location, location + "/result", location + "/events"] {
            #expect(try await client.get(path, headers: bob).status == 404, "\(path)")
        }
        #expect(try await client.send("DELETE", location, headers: bob).status == 404)

        // Idempotency keys are per caller: the same key from bob is another job.
        let key = UUID().uuidString
        let a = try await client.post("/v1/jobs/echo", "k", headers: alice.merging(["Idempotency-Key": key]) { $1 })
        let b = try await client.post("/v1/jobs/echo", "k", headers: bob.merging(["Idempotency-Key": key]) { $1 })
        #expect(a.header("Baton-Job-Id") != b.header("Baton-Job-Id"))

        // Rate limit: 0.1/s, so a burst of 1 (at least one token) and the next token 10 s later:
        // a loaded box that takes seconds per call still sees the refusals (with 1/s it once
        // refilled between calls).
        let limited = ["Authorization": "Bearer slow-secret-0123456789"]
        var statuses: [Int] = []
        for _ in 0..<3 { statuses.append(try await client.post("/v1/jobs/echo", "r", headers: limited).status) }
        #expect(statuses == [200, 429, 429])
        let refused = try await client.post("/v1/jobs/echo", "r", headers: limited)
        #expect(refused.status == 429)
        #expect(Int(refused.header("Retry-After") ?? "") ?? 0 >= 1)
    }
}
