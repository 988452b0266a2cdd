import BatonCore
import BatonNATS
import BatonTestSupport
import BatonWorker
import Foundation
import Synchronization
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
        let priorities = try #require(queue["priorities"] as? [String: [String: Any]])
        #expect(Set(priorities.keys) == ["high", "normal", "low"])
        for (priority, depth) in priorities {
            for key in ["pending", "ack_pending", "redelivered"] { #expect(depth[key] is Int, "queue.priorities.\(priority).\(key)") }
        }
        let stats = try #require(echo["stats"] as? [String: Any])
        for key in ["num_requests", "num_errors", "processing_time_ns"] {
            #expect(stats[key] is Int, "stats.\(key) = \(String(describing: stats[key]))")
        }
        #expect(Timestamp(rfc3339: try response.json()["readAt"] as? String ?? "") != nil)
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

    /// `$SRV.STATS` counts durable jobs: N jobs, one failing, move the service's counters (and
    /// its instance's) by N and its errors by 1; `readAt` moves on between two gathers.
    @Test func countersMoveByTheJobsRunAndErrorsByTheFailedOne() async throws {
        let system = try await SharedSystem.get()
        let service = try await CountingService.start(natsURL: system.server.url)
        defer { Task { await service.stop() } }
        let client = system.client
        @Sendable func counters(_ services: [String: [String: Any]]) -> (requests: Int, errors: Int, instance: Int, readable: Bool)? {
            guard let entry = services[service.name], let stats = entry["stats"] as? [String: Any],
                let requests = stats["num_requests"] as? Int, let errors = stats["num_errors"] as? Int,
                let instances = entry["instances"] as? [[String: Any]], instances.count == 1,
                let instance = instances[0]["num_requests"] as? Int
            else { return nil }
            return (requests, errors, instance, (stats["processing_time_ns"] as? Int ?? -1) >= 0)
        }
        // The start ran one job; wait until the catalogue shows it.
        let (initial, firstRead) = try await answer(client) { (counters($0)?.requests ?? 0) >= 1 }
        let before = try #require(counters(initial))
        let jobs = 6
        for i in 0..<jobs {
            let response = try await client.post("/v1/jobs/\(service.name)", i == 3 ? "fail" : "ok \(i)")
            #expect(response.status == (i == 3 ? 422 : 200))
        }
        let (after, secondRead) = try await answer(client) { (counters($0)?.requests ?? 0) >= before.requests + jobs }
        let moved = try #require(counters(after))
        #expect(moved.requests == before.requests + jobs)
        #expect(moved.errors == before.errors + 1)
        #expect(moved.instance == moved.requests, "the service's sum is its one instance's")
        #expect(moved.readable)
        #expect(try #require(Timestamp(rfc3339: secondRead)) > (try #require(Timestamp(rfc3339: firstRead))))
    }

    /// Queue depth per priority: jobs queued while the service has no worker show at their
    /// priority, and go once a worker is back.
    @Test func queueDepthPerPriority() async throws {
        let system = try await SharedSystem.get()
        let first = try await CountingService.start(natsURL: system.server.url)
        await first.stop()  // registered, consumers made, no worker left
        let client = system.client
        for (priority, count) in [("high", 2), ("normal", 3), ("low", 1)] {
            for _ in 0..<count {
                let response = try await client.post(
                    "/v1/jobs/\(first.name)", "queued", headers: ["Prefer": "respond-async", "Baton-Priority": priority])
                #expect(response.status == 202)
            }
        }
        @Sendable func depths(_ services: [String: [String: Any]]) -> [String: Int]? {
            guard let queue = services[first.name]?["queue"] as? [String: Any],
                let priorities = queue["priorities"] as? [String: [String: Any]], let total = queue["pending"] as? Int
            else { return nil }
            var depths = priorities.compactMapValues { $0["pending"] as? Int }
            depths["total"] = total
            return depths
        }
        let expected = ["high": 2, "normal": 3, "low": 1, "total": 6]
        _ = try await catalogue(client, timeout: .seconds(20)) { depths($0) == expected }
        // A worker of the service again: the queue drains.
        let second = try await CountingService.start(natsURL: system.server.url, name: first.name, waitForFirstJob: false)
        defer { Task { await second.stop() } }
        _ = try await catalogue(client, timeout: .seconds(20)) { depths($0) == ["high": 0, "normal": 0, "low": 0, "total": 0] }
        try await waitUntil(timeout: .seconds(10)) { second.handled == 6 }
    }

    /// Polls `GET /v1/services` until `condition` holds; returns the services by name and the
    /// answer's `readAt`.
    private func answer(
        _ client: HTTPClient, timeout: Duration = .seconds(15),
        until condition: @escaping @Sendable ([String: [String: Any]]) -> Bool
    ) async throws -> ([String: [String: Any]], String) {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var last = ""
        while clock.now < deadline {
            let response = try await client.get("/v1/services")
            last = response.text
            if response.status == 200, let body = try? response.json(), let list = body["services"] as? [[String: Any]] {
                var byName: [String: [String: Any]] = [:]
                for service in list { if let name = service["name"] as? String { byName[name] = service } }
                if condition(byName) { return (byName, body["readAt"] as? String ?? "") }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw TestError("catalogue condition not met within \(timeout); last answer: \(last)")
    }

    /// Polls `GET /v1/services` until `condition` holds; returns the services by name.
    private func catalogue(
        _ client: HTTPClient, timeout: Duration = .seconds(15),
        until condition: @escaping @Sendable ([String: [String: Any]]) -> Bool
    ) async throws -> [String: [String: Any]] {
        try await answer(client, timeout: timeout, until: condition).0
    }
}

/// A durable service of its own (a fresh name) served by an in-process worker: it answers its
/// input, fails with a 422 on the input `fail`, and counts the jobs it ran.
final class CountingService: Sendable {
    let name: String
    private let count = Mutex(0)
    private let connection: NATSConnection

    var handled: Int { count.withLock { $0 } }

    private init(name: String, connection: NATSConnection) {
        self.name = name
        self.connection = connection
    }

    /// Starts the worker and waits until the gateway runs a job on it (one job, counted)
    /// unless `waitForFirstJob` is false.
    static func start(
        natsURL: String, name: String = "counted-\(UInt32.random(in: 0...UInt32.max))", waitForFirstJob: Bool = true
    ) async throws -> CountingService {
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [natsURL], name: name), logger: quietLogger("test.counted"))
        let service = CountingService(name: name, connection: connection)
        let definition = ServiceDefinition(name: name) { [service] job, _ in
            service.count.withLock { $0 += 1 }
            if job.text == "fail" { throw JobError(status: 422, message: "failed on purpose") }
            return JobAnswer(status: 200, contentType: "text/plain", body: job.input)
        }
        var configuration = WorkerConfiguration(workerID: name)
        configuration.ackWait = .seconds(5)
        let worker = Worker(connection: connection, services: [definition], configuration: configuration, logger: quietLogger("test.counted"))
        Task { try await worker.run() }
        if waitForFirstJob {
            let client = try await SharedSystem.get().client
            try await waitUntil(timeout: .seconds(10)) { (try? await client.post("/v1/jobs/\(name)", "start").status) == 200 }
        }
        return service
    }

    func stop() async { await connection.close() }
}
