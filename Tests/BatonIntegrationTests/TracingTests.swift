import BatonCore
import BatonObservability
import EmbeddedNATS
import Foundation
import Testing

/// Traces exported over OpenTelemetry: a `baton gateway` and a `baton worker` (child processes,
/// `--otel-endpoint`) on a real nats-server export to a local OTLP/HTTP receiver, and a job
/// with a webhook makes one trace of four spans, linked through the `traceparent` its NATS
/// headers carry. Needs the `OTel` package trait (`make test` builds with it).
@Suite(
    "traces exported over OTLP", .serialized, .timeLimit(.minutes(2)),
    .enabled(if: OTLPTracing.isAvailable, "built without the OTel trait: swift test --traits OTel"))
struct TracingTests {
    @Test func oneTraceLinksTheGatewayRequestQueueWaitHandlerRunAndWebhookAttempt() async throws {
        let server = try await NATSServerProcess.shared("tracing")
        let collector = try await OTLPReceiver.start()
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret)
        defer {
            Task {
                await collector.stop()
                await receiver.stop()
            }
        }
        // Batches leave after 100 ms (OTEL_BSP_SCHEDULE_DELAY, read by swift-otel), not 5 s.
        let environment = ["OTEL_BSP_SCHEDULE_DELAY": "100"]
        let tracing = ["--otel-endpoint", collector.endpoint]
        let worker = try WorkerProcess(natsURL: server.url, arguments: ["--services", "echo"] + tracing, environment: environment)
        defer { worker.kill() }
        let gateway = try GatewayProcess(
            natsURL: server.url,
            arguments: ["--webhook-secret", testWebhookSecret.description, "--webhook-allow", "127.0.0.0/8"] + tracing,
            environment: environment)
        defer { gateway.kill() }
        try await worker.waitUntilServing()
        try await gateway.waitUntilReady()

        // The caller's own trace: the gateway's span continues it.
        let traceID = RandomBytes.hex(16)
        let callerSpan = "00f067aa0ba902b7"
        let submit = try await gateway.client.post(
            "/v1/jobs/echo", "traced",
            headers: ["traceparent": "00-\(traceID)-\(callerSpan)-01", "Prefer": "respond-async", "Callback-Url": receiver.url])
        #expect(submit.status == 202)
        let id = try #require(submit.header("Baton-Job-Id"))
        let deliveries = await receiver.waitForDeliveries(1, timeout: .seconds(20))
        try #require(deliveries.count == 1, "webhook not delivered:\n\(gateway.log)")

        let spans = await collector.waitForSpans(of: traceID, count: 4, timeout: .seconds(20))
        let byName = Dictionary(grouping: spans, by: \.name)
        #expect(spans.count == 4 && byName.values.allSatisfy { $0.count == 1 }, "\(spans)")
        let request = try #require(byName["gateway request"]?.first, "\(spans)\n\(gateway.log)")
        let queueWait = try #require(byName["queue wait"]?.first, "\(spans)\n\(worker.log)")
        let handlerRun = try #require(byName["handler run"]?.first, "\(spans)\n\(worker.log)")
        let attempt = try #require(byName["webhook attempt"]?.first, "\(spans)\n\(gateway.log)")

        // One trace: the gateway's server span is the caller's child, and the parent of the rest.
        #expect(request.parentSpanID == callerSpan)
        #expect(request.kind == 2)
        for span in [queueWait, handlerRun, attempt] {
            #expect(span.parentSpanID == request.spanID, "\(span.name)")
        }
        #expect(Set(spans.map(\.spanID)).count == 4)
        #expect(request.serviceName == "baton-gateway" && attempt.serviceName == "baton-gateway")
        #expect(queueWait.serviceName == "baton-worker" && handlerRun.serviceName == "baton-worker")

        // Attributes: the job, its service and priority, the attempt, the HTTP status.
        for span in spans {
            #expect(span.attributes["baton.job.id"] == id, "\(span.name)")
            #expect(span.attributes["baton.service"] == "echo", "\(span.name)")
            #expect(span.attributes["baton.job.priority"] == "normal", "\(span.name)")
        }
        #expect(request.attributes["http.response.status_code"] == "202")
        #expect(handlerRun.attributes["http.response.status_code"] == "200")
        #expect(handlerRun.attributes["baton.job.state"] == "succeeded")
        #expect(handlerRun.attributes["baton.attempt"] == "1")
        #expect(attempt.attributes["http.response.status_code"] == "204")
        #expect(attempt.attributes["baton.attempt"] == "1")

        // The queue wait runs from the job's acceptance (ms precision) to the handler's start.
        #expect(queueWait.startNanoseconds + 1_000_000 >= request.startNanoseconds)
        #expect(queueWait.startNanoseconds <= queueWait.endNanoseconds)
        #expect(queueWait.endNanoseconds <= handlerRun.startNanoseconds)
        #expect(handlerRun.startNanoseconds <= handlerRun.endNanoseconds)

        // The webhook's receiver continues the trace from the attempt's span.
        #expect(deliveries[0].traceparent == "00-\(traceID)-\(attempt.spanID)-01")
        #expect(collector.contentTypes == ["application/x-protobuf"])
    }

    /// A gateway that exports nothing starts its traces unsampled (flags `00`): a worker that
    /// exports follows its sampler, so with swift-otel's default (parent-based) it records none
    /// of their spans, and with `OTEL_TRACES_SAMPLER=always_on` it records them (README, "Logs
    /// and tracing").
    @Test func aWorkerBehindAGatewayThatDoesNotExportFollowsItsSampler() async throws {
        let server = try await NATSServerProcess.shared("tracing")
        let collector = try await OTLPReceiver.start()
        defer { Task { await collector.stop() } }
        let tracing = ["--otel-endpoint", collector.endpoint]
        let parentBased = try WorkerProcess(
            natsURL: server.url, arguments: ["--services", "echo"] + tracing, environment: ["OTEL_BSP_SCHEDULE_DELAY": "100"])
        defer { parentBased.kill() }
        let alwaysOn = try WorkerProcess(
            natsURL: server.url, arguments: ["--services", "echo-fast"] + tracing,
            environment: ["OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_TRACES_SAMPLER": "always_on"])
        defer { alwaysOn.kill() }
        let gateway = try GatewayProcess(natsURL: server.url, arguments: [], environment: [:])
        defer { gateway.kill() }
        try await parentBased.waitUntilServing()
        try await alwaysOn.waitUntilServing()
        try await gateway.waitUntilReady()

        /// Submits a job without a `traceparent` and returns the trace its record names.
        func traceID(ofJobOn service: String) async throws -> String {
            let submit = try await gateway.client.post("/v1/jobs/\(service)", "x", headers: ["Prefer": "respond-async"])
            let location = try #require(submit.header("Location"), "\(submit.status) \(submit.text)")
            #expect(try await gateway.client.get(location + "/result", headers: ["Prefer": "wait=10"]).status == 200)
            let traceparent = try #require(try await gateway.client.get(location).json()["traceparent"] as? String)
            let trace = try #require(TraceContext(traceparent: traceparent))
            #expect(trace.flags == "00")
            return trace.traceID
        }
        let recorded = try await traceID(ofJobOn: "echo-fast")
        let unrecorded = try await traceID(ofJobOn: "echo")
        let spans = await collector.waitForSpans(of: recorded, count: 2, timeout: .seconds(20))
        #expect(Set(spans.map(\.name)) == ["queue wait", "handler run"], "\(spans)\n\(alwaysOn.log)")
        // The other worker exports on the same schedule: a second later, nothing of its job came.
        try await Task.sleep(for: .seconds(1))
        #expect(collector.spans.filter { $0.traceID == unrecorded }.isEmpty, "\(collector.spans)")
    }
}
