import BatonCore
import Foundation
import Testing

/// `GET /v1/services`: registered services merged with the live NATS micro instances and the
/// durable queues, against the shared system (worker `test-worker` offers the examples).
@Suite("service catalogue", .serialized, .timeLimit(.minutes(2)))
struct ServicesTests {
    @Test func listsLiveServicesWithTypedFields() async throws {
        let client = try await SharedSystem.get().client
        let services = try await catalogue(client) { services in
            (services["echo"]?["instances"] as? [Any])?.isEmpty == false
                && (services["echo-fast"]?["instances"] as? [Any])?.isEmpty == false
        }
        let response = try await client.get("/v1/services")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")

        let echo = try #require(services["echo"])
        #expect(echo["lane"] as? String == "durable")
        #expect(echo["version"] as? String == "1.0.0")
        #expect(echo["description"] is String)
        #expect(Timestamp(rfc3339: echo["registeredAt"] as? String ?? "") != nil)
        let queue = try #require(echo["queue"] as? [String: Any])
        for key in ["pending", "ack_pending", "redelivered"] {
            #expect(queue[key] is Int, "queue.\(key) = \(String(describing: queue[key]))")
        }
        let instances = try #require(echo["instances"] as? [[String: Any]])
        let instance = try #require(instances.first { $0["worker"] as? String == "test-worker" })
        #expect((instance["id"] as? String)?.count == 22)
        #expect(instance["version"] as? String == "1.0.0")
        #expect(Timestamp(rfc3339: instance["started"] as? String ?? "") != nil)
        for key in ["num_requests", "num_errors", "average_processing_time_ns"] {
            #expect(instance[key] is Int, "\(key) = \(String(describing: instance[key]))")
        }

        let fast = try #require(services["echo-fast"])
        #expect(fast["lane"] as? String == "fast")
        #expect(fast["queue"] == nil)
        #expect((fast["instances"] as? [[String: Any]])?.contains { $0["worker"] as? String == "test-worker" } == true)
        // Sorted by name.
        let names = try #require(try response.json()["services"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(names == names.sorted())
    }

    @Test func numRequestsGrowsAfterAJob() async throws {
        let client = try await SharedSystem.get().client
        @Sendable func requests(_ services: [String: [String: Any]]) -> Int? {
            (services["echo"]?["instances"] as? [[String: Any]])?
                .first { $0["worker"] as? String == "test-worker" }?["num_requests"] as? Int
        }
        let initial = try await catalogue(client) { requests($0) != nil }
        let before = try #require(requests(initial))
        #expect(try await client.post("/v1/jobs/echo", "count me").status == 200)
        // The catalogue is cached for 2 s per gateway: it shows the job after the next refresh.
        _ = try await catalogue(client, timeout: .seconds(10)) { (requests($0) ?? 0) > before }
    }

    /// Polls `GET /v1/services` until `condition` holds; returns the services by name.
    private func catalogue(
        _ client: HTTPClient, timeout: Duration = .seconds(15),
        until condition: @escaping @Sendable ([String: [String: Any]]) -> Bool
    ) async throws -> [String: [String: Any]] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var last = ""
        while clock.now < deadline {
            let response = try await client.get("/v1/services")
            last = response.text
            if response.status == 200, let list = try response.json()["services"] as? [[String: Any]] {
                var byName: [String: [String: Any]] = [:]
                for service in list { if let name = service["name"] as? String { byName[name] = service } }
                if condition(byName) { return byName }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw TestError("catalogue condition not met within \(timeout); last answer: \(last)")
    }
}
