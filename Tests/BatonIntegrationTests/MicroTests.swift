import BatonCore
import BatonNATS
import BatonTestSupport
import BatonWorker
import Foundation
import NIOCore
import Testing

/// The NATS micro-service protocol (ADR-32) of the worker runtime: a worker of our own on the
/// shared nats-server, with a durable and a fast service under unique names, checked from
/// Swift and from an independent client (nats-py, `Support/micro_check.py`).
@Suite("NATS micro", .serialized, .timeLimit(.minutes(3)))
struct MicroTests {
    @Test func pingAndInfoFromSwift() async throws {
        let probe = try await MicroProbe.get()
        for (service, lane) in [(probe.durable, "durable"), (probe.fast, "fast")] {
            let ping = try await probe.ask("$SRV.PING.\(service)")
            #expect(ping["type"] as? String == "io.nats.micro.v1.ping_response")
            #expect(ping["name"] as? String == service)
            #expect(ping["version"] as? String == "1.2.3")
            let id = try #require(ping["id"] as? String)
            #expect(id.count == 22)
            #expect(ping["metadata"] as? [String: String] == ["lane": lane, "worker": probe.workerID, "baton": "1"])

            let info = try await probe.ask("$SRV.INFO.\(service).\(id)")
            #expect(info["type"] as? String == "io.nats.micro.v1.info_response")
            #expect(info["id"] as? String == id)
            #expect(info["description"] as? String == "micro probe (\(lane))")
            let endpoints = try #require(info["endpoints"] as? [[String: Any]])
            #expect(endpoints.count == 1)
            let subject = lane == "fast" ? "baton.svc.\(service)" : "baton.jobs.\(service).>"
            let queue = lane == "fast" ? "baton.\(service)" : "baton-\(service)"
            #expect(endpoints.first?["name"] as? String == service)
            #expect(endpoints.first?["subject"] as? String == subject)
            #expect(endpoints.first?["queue_group"] as? String == queue)
            #expect(endpoints.first?["metadata"] is [String: String])
        }
        // Every instance answers the bare verb: both of ours, with distinct ids.
        let all = try await probe.connection.requestMany(ByteBuffer(), to: "$SRV.PING", timeout: .milliseconds(300))
        let ours = all.compactMap { try? JSONSerialization.jsonObject(with: Data($0.payload.readableBytesView)) as? [String: Any] }
            .filter { ($0["metadata"] as? [String: String])?["worker"] == probe.workerID }
        #expect(Set(ours.compactMap { $0["name"] as? String }) == [probe.durable, probe.fast])
        #expect(Set(ours.compactMap { $0["id"] as? String }).count == 2)
    }

    @Test func statsCountJobsAndErrors() async throws {
        let probe = try await MicroProbe.get()
        let system = try await SharedSystem.get()
        let before = try await probe.endpointStats(probe.fast)
        _ = try await probe.connection.request(ByteBuffer(string: "hi"), to: "baton.svc.\(probe.fast)", timeout: .seconds(5))
        let failed = try await probe.connection.request(ByteBuffer(string: "fail"), to: "baton.svc.\(probe.fast)", timeout: .seconds(5))
        #expect(failed.headers["Nats-Service-Error-Code"] == "422")
        let after = try await probe.endpointStats(probe.fast)
        #expect(after["num_requests"] as? Int == (before["num_requests"] as? Int ?? -1) + 2)
        #expect(after["num_errors"] as? Int == (before["num_errors"] as? Int ?? -1) + 1)
        #expect(after["last_error"] as? String == "422:asked to fail")
        let total = try #require(after["processing_time"] as? Int)
        let requests = try #require(after["num_requests"] as? Int)
        #expect(total > 0)
        #expect(after["average_processing_time"] as? Int == total / requests)

        // Durable jobs through the gateway count as well.
        let durableBefore = try await probe.endpointStats(probe.durable)
        #expect(try await system.client.post("/v1/jobs/\(probe.durable)", "hello").status == 200)
        #expect(try await system.client.post("/v1/jobs/\(probe.durable)", "fail").status == 422)
        let durableAfter = try await probe.endpointStats(probe.durable)
        #expect(durableAfter["num_requests"] as? Int == (durableBefore["num_requests"] as? Int ?? -1) + 2)
        #expect(durableAfter["num_errors"] as? Int == (durableBefore["num_errors"] as? Int ?? -1) + 1)
        #expect(durableAfter["last_error"] as? String == "422:asked to fail")
        let stats = try await probe.ask("$SRV.STATS.\(probe.durable)")
        #expect(Timestamp(rfc3339: stats["started"] as? String ?? "") != nil)
    }

    @Test func independentClientValidatesTheSchemas() async throws {
        let probe = try await MicroProbe.get()
        let system = try await SharedSystem.get()
        try await ensurePythonPackage("nats-py", module: "nats.aio.client")
        _ = try await probe.connection.request(ByteBuffer(string: "fail"), to: "baton.svc.\(probe.fast)", timeout: .seconds(5))
        let checks: [[String]] = [
            [probe.durable, "--lane", "durable", "--worker", probe.workerID],
            [probe.fast, "--lane", "fast", "--worker", probe.workerID, "--min-requests", "1", "--min-errors", "1"],
            ["echo", "--lane", "durable"],
            ["echo-fast", "--lane", "fast"],
        ]
        for arguments in checks {
            let result = try await runPython([microCheckScript, system.server.url] + arguments)
            #expect(result.status == 0, "micro_check.py \(arguments.joined(separator: " ")) exited \(result.status):\n\(result.output)")
        }
    }
}

/// Our own worker on the shared nats-server: `micro-<suffix>` (durable) and
/// `micro-<suffix>-fast` (fast); input "fail" fails with 422, anything else is echoed.
struct MicroProbe: Sendable {
    let connection: NATSConnection
    let workerID: String
    let durable: String
    let fast: String

    static let task = Task<MicroProbe, Error> {
        let system = try await SharedSystem.get()
        let suffix = String(JobID.make().prefix(8))
        let probe = MicroProbe(
            connection: try await NATSConnection.connect(
                NATSConfiguration(servers: [system.server.url], name: "test-micro"), logger: quietLogger("test.micro")),
            workerID: "micro-test-\(suffix)", durable: "micro-\(suffix)", fast: "micro-\(suffix)-fast")
        let handler: JobHandler = { job, _ in
            if job.text == "fail" { throw JobError(status: 422, message: "asked to fail") }
            return JobAnswer(status: 200, contentType: job.contentType, body: job.input)
        }
        var configuration = WorkerConfiguration(workerID: probe.workerID)
        configuration.concurrency = 4
        configuration.ackWait = .seconds(5)
        let worker = Worker(
            connection: probe.connection,
            services: [
                ServiceDefinition(name: probe.durable, lane: .durable, version: "1.2.3", description: "micro probe (durable)", handler: handler),
                ServiceDefinition(name: probe.fast, lane: .fast, version: "1.2.3", description: "micro probe (fast)", handler: handler),
            ],
            configuration: configuration, logger: quietLogger("test.micro"))
        Task { try await worker.run() }
        try await waitUntil(timeout: .seconds(20), every: .milliseconds(100)) {
            let fast = try? await probe.connection.request(ByteBuffer(), to: "$SRV.PING.\(probe.fast)", timeout: .milliseconds(200))
            let durable = try? await probe.connection.request(ByteBuffer(), to: "$SRV.PING.\(probe.durable)", timeout: .milliseconds(200))
            return fast != nil && durable != nil
        }
        return probe
    }

    static func get() async throws -> MicroProbe { try await task.value }

    /// The first reply to `subject`, as a JSON object.
    func ask(_ subject: String) async throws -> [String: Any] {
        let reply = try await connection.request(ByteBuffer(), to: subject, timeout: .seconds(2))
        return try JSONSerialization.jsonObject(with: Data(reply.payload.readableBytesView)) as? [String: Any] ?? [:]
    }

    /// The one endpoint's counters in `service`'s STATS answer.
    func endpointStats(_ service: String) async throws -> [String: Any] {
        let stats = try await ask("$SRV.STATS.\(service)")
        #expect(stats["type"] as? String == "io.nats.micro.v1.stats_response")
        return try #require((stats["endpoints"] as? [[String: Any]])?.first)
    }
}

/// `Support/micro_check.py`, next to this file.
let microCheckScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Support/micro_check.py").path
