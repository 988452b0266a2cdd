import BatonCore
import BatonExamples
import BatonGateway
import BatonNATS
import BatonHTTPServer
import BatonObservability
import BatonTestSupport
import BatonWebhooks
import BatonWorker
import EmbeddedNATS
import Foundation
import Logging
import Synchronization

/// A gateway running in this process on a free port, against a nats-server of the tests.
struct TestGateway: Sendable {
    let port: Int
    let connection: NATSConnection
    var client: HTTPClient { HTTPClient(baseURL: "http://127.0.0.1:\(port)") }

    static func start(natsURL: String, configure: (inout GatewayConfiguration) -> Void = { _ in }) async throws -> TestGateway {
        let logger = quietLogger("test.gateway")
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [natsURL], name: "test-gateway"), logger: logger)
        var configuration = GatewayConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configure(&configuration)
        let (ports, portInput) = AsyncStream.makeStream(of: Int.self)
        let services = Gateway.services(connection: connection, configuration: configuration, logger: logger) { port in
            portInput.yield(port)
            portInput.finish()
        }
        for service in services { Task { try await service.run() } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestError("gateway did not start") }
        return TestGateway(port: port, connection: connection)
    }
}

/// One shared system for the end-to-end suite: the shared nats-server, a gateway and a worker
/// with the example services, all in this process.
enum SharedSystem {
    struct System: Sendable {
        let server: NATSServerProcess
        let gateway: TestGateway
        let worker: NATSConnection
        var client: HTTPClient { gateway.client }
    }

    static let task = Task<System, Error> {
        let server = try await NATSServerProcess.shared()
        let logger = quietLogger("test.worker")
        let workerConnection = try await NATSConnection.connect(NATSConfiguration(servers: [server.url], name: "test-worker"), logger: logger)
        var configuration = WorkerConfiguration(workerID: "test-worker")
        configuration.concurrency = 32
        configuration.ackWait = .seconds(5)
        configuration.maxAttempts = 3
        configuration.retryBackoff = .milliseconds(100)
        let services = ExampleServices.names.compactMap { ExampleServices.definition($0) }
        let worker = Worker(connection: workerConnection, services: services, configuration: configuration, logger: logger)
        Task { try await worker.run() }
        let metrics = MetricsEndpoint(registry: Observability.bootstrapMetricsOnly())
        let gateway = try await TestGateway.start(natsURL: server.url) { configuration in
            configuration.webhooks = testWebhooks()
            configuration.metrics = metrics
        }
        // Ready once the worker registered its services.
        try await waitUntil(timeout: .seconds(20)) {
            (try? await gateway.client.post("/v1/jobs/fail", "{}").status) == 400
        }
        return System(server: server, gateway: gateway, worker: workerConnection)
    }

    static func get() async throws -> System { try await task.value }
}

/// The webhook secret of the tests' gateways.
let testWebhookSecret = try! WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

/// Webhooks as the tests deliver them: loopback allowed, quick retries and timeouts.
func testWebhooks(enabled: Bool = true) -> WebhookConfiguration {
    var webhooks = WebhookConfiguration()
    webhooks.enabled = enabled
    webhooks.secret = testWebhookSecret
    webhooks.policy = try! WebhookPolicy(allow: WebhookPolicy.loopback)
    webhooks.schedule = RetrySchedule(delays: [.milliseconds(200), .milliseconds(200), .milliseconds(200)])
    webhooks.timeout = .seconds(2)
    webhooks.ackWait = .seconds(4)
    return webhooks
}

/// A `baton gateway` child process (for crash tests), its output in a log file.
final class GatewayProcess: Sendable {
    let process: Process
    let logPath: String
    let port: Int

    /// `environment` adds to this process's.
    init(natsURL: String, arguments: [String], environment: [String: String] = [:]) throws {
        port = try freePort()
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("baton-gateway-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: try batonExecutable())
        process.arguments = ["gateway", "--nats-url", natsURL, "--host", "127.0.0.1", "--port", String(port), "--log-level", "debug"] + arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var client: HTTPClient { HTTPClient(baseURL: "http://127.0.0.1:\(port)") }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitUntilReady() async throws {
        try await waitUntil(timeout: .seconds(30)) {
            (try? await self.client.get("/readyz").status) == 200 || !self.process.isRunning
        }
        guard process.isRunning else { throw TestError("gateway exited:\n\(log)") }
    }

    func kill(_ signal: Int32 = SIGKILL) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
        process.waitUntilExit()
    }
}

/// A free TCP port on loopback for a process under test to listen on, chosen below the
/// kernel's ephemeral range (`ip_local_port_range`). The port is free when chosen and bound
/// later by another process; a port from the ephemeral range can be taken in between by any
/// outgoing connection's local end or by a nats-server started on port -1 (a gateway of the
/// tests once exited with "Address already in use" that way, under CI's parallel load). Below
/// the range only explicit binds take ports.
///
/// A port is handed out once per test run (`handedOut`): a port checked free and released is
/// still free when a second test draws it, and two gateways of concurrent tests then share a
/// number — the loser exits on its bind while the winner answers its readiness checks.
func freePort() throws -> Int {
    let low = ephemeralPortRange().lowerBound
    if low > 10_100 {
        for _ in 0..<500 {
            let candidate = Int.random(in: 10_000..<low)
            guard handedOut.withLock({ $0.insert(candidate).inserted }) else { continue }
            if try LoopbackPort.bind(candidate) != nil { return candidate }
        }
    }
    guard let port = try LoopbackPort.bind() else { throw TestError("bind failed") }
    return port
}

/// The ports `freePort()` has drawn below the ephemeral range in this test run.
private let handedOut = Mutex<Set<Int>>([])

/// The kernel's range of ephemeral ports (default 32768–60999).
private func ephemeralPortRange() -> ClosedRange<Int> {
    let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let bounds = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
    guard bounds.count == 2, bounds[0] <= bounds[1] else { return 32768...60999 }
    return bounds[0]...bounds[1]
}

/// A `baton worker` child process (for crash tests), its output in a log file.
final class WorkerProcess: Sendable {
    let process: Process
    let logPath: String

    /// `environment` adds to this process's.
    init(natsURL: String, arguments: [String], environment: [String: String] = [:]) throws {
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("baton-worker-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: try batonExecutable())
        process.arguments = ["worker", "--nats-url", natsURL, "--log-level", "debug", "--metrics-port", "0"] + arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitUntilServing() async throws {
        try await waitUntil(timeout: .seconds(30)) { self.log.contains("worker serving") || !self.process.isRunning }
        guard process.isRunning else { throw TestError("worker exited:\n\(log)") }
    }

    func kill(_ signal: Int32 = SIGKILL) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
        process.waitUntilExit()
    }

    /// Runs a worker until it has registered its services (and made their streams and
    /// consumers), then stops it: the services stay known and their jobs stay queued.
    static func registerAndLeave(natsURL: String, arguments: [String]) async throws {
        let worker = try WorkerProcess(natsURL: natsURL, arguments: arguments)
        try await worker.waitUntilServing()
        await worker.stop(SIGTERM)
    }

    /// Sends `signal` and waits for the worker to end without holding a thread (a SIGTERM'd
    /// worker drains for seconds).
    func stop(_ signal: Int32 = SIGTERM) async {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
        await waitForExit(process)
    }
}

/// The `baton` executable built next to the tests.
func batonExecutable() throws -> String {
    if let path = ProcessInfo.processInfo.environment["BATON_EXECUTABLE"] { return path }
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
        Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../.build/debug"),
    ].map { $0.appendingPathComponent("baton").standardizedFileURL.path }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw TestError("baton executable not found in \(candidates); set BATON_EXECUTABLE")
    }
    return found
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["BATON_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .error
    return logger
}
