import Foundation
import Testing

/// A gateway that gets SIGTERM while clients wait: each gets its `202` and `Location` instead of
/// a broken connection, and every job still completes.
@Suite("shutdown", .timeLimit(.minutes(2)))
struct ShutdownTests {
    @Test func sigtermDuringFiftyWaitingCallsAnswersEachWith202() async throws {
        let system = try await SharedSystem.get()
        let gateway = try GatewayProcess(natsURL: system.server.url, arguments: ["--no-webhooks", "--max-wait", "60s"])
        defer { gateway.kill() }
        try await gateway.waitUntilReady()
        let client = gateway.client

        let calls = (0..<50).map { i in
            Task { try await client.post("/v1/jobs/slow", #"{"ms": 2500, "steps": 1}"#, headers: ["Prefer": "wait=30", "X-Call": "\(i)"]) }
        }
        // Let every call reach its wait, then stop the gateway.
        try await Task.sleep(for: .milliseconds(800))
        let stoppedAt = ContinuousClock.now
        kill(gateway.process.processIdentifier, SIGTERM)

        var locations: [String] = []
        for call in calls {
            let response = try await call.value
            #expect(response.status == 202, "\(response.status) \(response.text)")
            if let location = response.header("Location") { locations.append(location) }
        }
        #expect(ContinuousClock.now - stoppedAt < .seconds(2), "the 202s came at once, not after the jobs")
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
}
