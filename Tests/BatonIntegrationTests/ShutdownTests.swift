import BatonTestSupport
import Foundation
import Testing

/// A gateway that gets SIGTERM while clients wait: each gets its `202` and `Location` instead of
/// a broken connection, and every job still completes.
@Suite("shutdown", .timeLimit(.minutes(2)))
struct ShutdownTests {
    @Test func sigtermDuringFiftyWaitingCallsAnswersEachWith202() async throws {
        let system = try await SharedSystem.get()
        let gateway = try GatewayProcess(natsURL: system.server.url, arguments: ["--no-webhooks", "--max-wait", "60s", "--shutdown-grace", "30s"])
        defer { gateway.kill() }
        try await gateway.waitUntilReady()
        let client = gateway.client

        let calls = (0..<50).map { i in
            Task { try await client.post("/v1/jobs/slow", #"{"ms": 2500, "steps": 1}"#, headers: ["Prefer": "wait=30", "X-Call": "\(i)"]) }
        }
        // Once every call waits for its answer (the gateway's gauge of waiting clients), stop
        // the gateway.
        try await waitUntil(timeout: .seconds(10)) {
            let lines = try await client.get("/metrics").text.split(separator: "\n")
            return lines.contains { $0.hasPrefix("baton_waiting_requests ") && Double($0.split(separator: " ")[1]) == 50 }
        }
        let stoppedAt = ContinuousClock.now
        kill(gateway.process.processIdentifier, SIGTERM)

        var locations: [String] = []
        for call in calls {
            let response = try await call.value
            #expect(response.status == 202, "\(response.status) \(response.text)")
            if let location = response.header("Location") { locations.append(location) }
        }
        // A call that waited for its job would be a 200 (the jobs take 2.5 s); one that waited out
        // the 30 s grace would come after it. 10 s leaves a loaded box room (2 s once did not).
        #expect(ContinuousClock.now - stoppedAt < .seconds(10), "the 202s came at once, not after the grace")
        #expect(locations.count == 50)
        await waitForExit(gateway.process)
        #expect(gateway.process.terminationStatus == 0)

        // Every job completes; any other gateway answers for it.
        let accepted = locations
        try await waitUntil(timeout: .seconds(30), every: .milliseconds(250)) {
            var done = 0
            for location in accepted where try await system.client.get(location).json()["state"] as? String == "succeeded" { done += 1 }
            return done == accepted.count
        }
    }

    /// `baton dev` on SIGTERM stops its services in reverse start order: the gateway drains, the
    /// worker stops, then the NATS connections close and the embedded nats-server stops last. It
    /// exits 0 and leaves neither the nats-server nor its temporary store behind.
    @Test func devStopsItsServicesInReverseOrderAndItsNATSServerLast() async throws {
        let port = try freePort()
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("baton-dev-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: logPath) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try batonExecutable())
        process.arguments = [
            "dev", "--port", String(port), "--nats-port", "0", "--log-format", "json", "--log-level", "debug", "--shutdown-grace", "2s",
        ]
        let log = try #require(FileHandle(forWritingAtPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let client = HTTPClient(baseURL: "http://127.0.0.1:\(port)")
        @Sendable func lines() -> [[String: Any]] {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        // The first call after the gateway is ready finds the example services: dev registers
        // them before its gateway listens (before, a call in the first instant got 404).
        try await waitUntil(timeout: .seconds(30), every: .milliseconds(5)) {
            guard process.isRunning else { return true }
            return (try? await client.get("/readyz").status) == 200
        }
        #expect(process.isRunning)
        let answer = try await client.post("/v1/jobs/echo", "hi", headers: ["Content-Type": "text/plain"])
        #expect(answer.status == 200 && answer.text == "hi", "\(answer.status) \(answer.text)")

        kill(process.processIdentifier, SIGTERM)
        await waitForExit(process, timeout: .seconds(30))
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)

        let logged = lines()
        let messages = logged.compactMap { $0["message"] as? String }
        let started = try #require(logged.first { $0["message"] as? String == "nats-server started" }, "\(messages)")
        let pid = try #require((started["pid"] as? String).flatMap { Int32($0) })
        #expect(kill(pid, 0) != 0, "nats-server \(pid) still runs")
        let store = try #require(started["store"] as? String)
        let work = URL(fileURLWithPath: store).deletingLastPathComponent().path
        #expect(!FileManager.default.fileExists(atPath: work), "its temporary files are left in \(work)")
        func position(_ message: String) -> Int { messages.firstIndex(of: message) ?? -1 }
        let registered = position("services registered")
        #expect(registered >= 0 && registered < position("gateway listening"), "the gateway listened before the examples were registered: \(messages)")
        let draining = position("draining: clients waiting for an answer get their 202 now")
        let stopping = position("stopping: finishing the jobs in flight")
        let stopped = position("worker stopped")
        #expect(draining >= 0 && draining < stopping && stopping < stopped, "\(messages)")
        // The service group's own account (debug): each service is asked to stop once the one
        // after it has ended.
        let expected = [
            "Gateway", "WebhookDelivery", "Worker", "NATS connection baton-dev-worker", "NATS connection baton-dev-gateway", "nats-server",
        ]
        let shutdownOrder = logged.filter { $0["message"] as? String == "Triggering graceful shutdown for service" }
            .compactMap { $0["sl-service"] as? String }.filter(expected.contains)
        #expect(shutdownOrder == expected)
    }
}
