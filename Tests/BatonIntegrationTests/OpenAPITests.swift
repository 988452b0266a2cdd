@testable import BatonGateway
import BatonNATS
import BatonObservability
import Foundation
import Hummingbird
import Prometheus
import Testing

// `Sources/BatonGateway/OpenAPI/openapi.json` against the gateway: the router's routes, what
// `GET /openapi.json` serves, `openapi-spec-validator`, and a bounded schemathesis run against a
// live gateway (no 5xx; every error a problem document).
/// openapi.json agrees with the gateway.
@Suite("OpenAPI document", .timeLimit(.minutes(3)))
struct OpenAPITests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL
    static let documentURL = repository.appendingPathComponent("Sources/BatonGateway/OpenAPI/openapi.json")

    static func documentBytes() throws -> Data { try Data(contentsOf: documentURL) }

    // MARK: - Routes

    /// Every route the router has is an operation of the document, and the other way round.
    /// Path parameters are compared by position, not by name.
    @Test func routesAndDocumentAgree() async throws {
        let system = try await SharedSystem.get()
        var configuration = GatewayConfiguration()
        // What `baton gateway` and `baton dev` always set (it adds `GET /metrics`).
        configuration.metrics = MetricsEndpoint(registry: PrometheusCollectorRegistry())
        let gateway = Gateway(connection: system.gateway.connection, configuration: configuration, logger: quietLogger("test.openapi"))
        let router = gateway.buildRouter(jetStream: try JetStream(system.gateway.connection))
        let routed = Set(router.routes.map { "\($0.method.rawValue) \(Self.normalized($0.path.description))" })
        let documented = try Self.documentedOperations()

        #expect(routed.subtracting(documented).isEmpty, "routes missing from openapi.json: \(routed.subtracting(documented).sorted())")
        #expect(documented.subtracting(routed).isEmpty, "openapi.json operations without a route: \(documented.subtracting(routed).sorted())")
    }

    /// `METHOD /path/{}` for every operation of the document.
    static func documentedOperations() throws -> Set<String> {
        let document = try #require(try JSONSerialization.jsonObject(with: documentBytes()) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var operations = Set<String>()
        for (path, item) in paths {
            let item = try #require(item as? [String: Any])
            for method in methods where item[method] != nil {
                operations.insert("\(method.uppercased()) \(normalized(path))")
            }
        }
        return operations
    }

    /// `/v1/jobs/{id}/result` → `/v1/jobs/{}/result` (Hummingbird writes captures as `{name}` too).
    static func normalized(_ path: String) -> String {
        path.replacingOccurrences(of: #"\{[^}/]*\}"#, with: "{}", options: .regularExpression)
    }

    // MARK: - Embedding and serving

    /// `OpenAPIDocument.swift` (what the binary serves) is `openapi.json`, byte for byte.
    @Test func embeddedDocumentIsTheFile() throws {
        #expect(
            Data(OpenAPIDocument.json.utf8) == (try Self.documentBytes()),
            "OpenAPIDocument.swift differs from openapi.json: run scripts/embed-openapi.sh")
    }

    @Test func gatewayServesTheFile() async throws {
        let response = try await SharedSystem.get().client.get("/openapi.json")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.body == (try Self.documentBytes()))
    }

    // MARK: - Validation

    @Test func openapiSpecValidatorAcceptsIt() async throws {
        try await Self.pythonTools.value
        let run = try await runTool(["python3", "-m", "openapi_spec_validator", Self.documentURL.path], timeout: .seconds(60))
        #expect(run.status == 0, "openapi-spec-validator:\n\(run.output)")
        #expect(run.output.contains("OK"), "\(run.output)")
    }

    // MARK: - Fuzzing

    // schemathesis against a live gateway, every phase (examples, coverage, fuzzing, stateful
    // through the document's links), a few examples per operation, and three checks:
    // `not_a_server_error`; `problem_document` (hooks below), an error status comes as
    // `application/problem+json` with `type`, `title` and the response's `status`;
    // `every_job_ends` (hooks below), every job answered `202` reaches a terminal state.
    //
    // The gateway is a `baton gateway` child process on the shared nats-server, served by the
    // shared worker: a crash it suffers shows up here with its crash report instead of ending
    // this test process. It has no webhook secret, so nothing can be delivered off this machine,
    // and `--max-wait 2s` bounds every wait.
    //
    // The fuzzed copy of the document (`before_load_schema`) differs in two ways: `echo` and
    // `echo-fast` are the only services (`slow` holds long jobs; `fail` and `flaky` answer the
    // 5xx their body asks for: answers, not gateway errors), and `Callback-Url` is left out
    // (without a secret it is a 400 before anything else is looked at). Negative cases still
    // send other service names; `before_call` turns `slow`, `fail` and `flaky` into `echo`.
    // `BATON_FUZZ_SEED` replays a run (schemathesis prints its seed).
    /// No 5xx and only problem documents as errors, under schemathesis.
    @Test func schemathesisFindsNoServerErrorAndOnlyProblemDocuments() async throws {
        try await Self.pythonTools.value
        let system = try await SharedSystem.get()
        let gateway = try FuzzedGateway(natsURL: system.server.url)
        defer { gateway.stop() }
        try await gateway.waitUntilReady()

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-schemathesis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let hooks = directory.appendingPathComponent("baton_hooks.py")
        try Data(Self.schemathesisHooks.utf8).write(to: hooks)

        var arguments = [
            "python3", "-m", "schemathesis.cli", "run", "http://127.0.0.1:\(gateway.port)/openapi.json",
            "--checks", "not_a_server_error,problem_document,every_job_ends",
            "--max-examples", "25",
            "--workers", "1",
            "--request-timeout", "5",
            "--max-failures", "10",
            "--generation-database", "none",
            "--no-color",
        ]
        if let seed = ProcessInfo.processInfo.environment["BATON_FUZZ_SEED"] { arguments += ["--seed", seed] }
        let clock = ContinuousClock()
        let start = clock.now
        let run = try await runTool(arguments, environment: ["SCHEMATHESIS_HOOKS": hooks.path], directory: directory, timeout: .seconds(120))
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("schemathesis ran \(String(format: "%.1f", seconds)) s (exit \(run.status))")

        #expect(gateway.isRunning, "the fuzzed gateway died:\n\(gateway.crashReport)\n\nschemathesis:\n\(run.output)")
        #expect(run.status == 0, "schemathesis (exit \(run.status)):\n\(run.output)")
        #expect(run.output.contains("Test cases:"), "\(run.output)")
        #expect(elapsed < .seconds(60), "the fuzz run took \(elapsed)")
    }

    static let schemathesisHooks = #"""
        # Loaded by schemathesis through SCHEMATHESIS_HOOKS (written by OpenAPITests.swift).
        import json

        import schemathesis

        SAFE_SERVICES = ["echo", "echo-fast"]
        UNSAFE_SERVICES = {"slow", "fail", "flaky"}


        @schemathesis.hook
        def before_load_schema(context, raw_schema):
            # Submit only to services whose answers are not chosen by the body (see the test).
            raw_schema["components"]["parameters"]["ServiceName"]["schema"] = {"type": "string", "enum": SAFE_SERVICES}
            # The fuzzed gateway has no webhook secret: a Callback-Url is a 400 before anything
            # else is looked at.
            submit = raw_schema["paths"]["/v1/jobs/{service_or_id}"]["post"]
            submit["parameters"] = [p for p in submit["parameters"] if p.get("$ref") != "#/components/parameters/CallbackUrl"]


        @schemathesis.hook
        def before_call(context, case, kwargs):
            if case.method.upper() == "POST" and (case.path_parameters or {}).get("service_or_id") in UNSAFE_SERVICES:
                case.path_parameters["service_or_id"] = "echo"


        @schemathesis.check
        def problem_document(ctx, response, case):
            """An error status comes as an RFC 9457 problem document with type, title and status."""
            if response.status_code < 400:
                return None
            content_type = (response.headers.get("content-type") or [""])[0]
            media_type = content_type.split(";")[0].strip().lower()
            if media_type != "application/problem+json":
                raise AssertionError(f"{response.status_code} with Content-Type {content_type!r}, not application/problem+json")
            try:
                problem = json.loads(response.content)
            except ValueError as error:
                raise AssertionError(f"{response.status_code}: the problem document is not JSON ({error})")
            if not isinstance(problem, dict):
                raise AssertionError(f"{response.status_code}: the problem document is not a JSON object")
            for field, kind in (("type", str), ("title", str), ("status", int)):
                value = problem.get(field)
                if not isinstance(value, kind) or isinstance(value, bool):
                    raise AssertionError(f"{response.status_code}: the problem document has no {kind.__name__} {field!r}: {problem}")
            if problem["status"] != response.status_code:
                raise AssertionError(f"the problem document says status {problem['status']}, the response is {response.status_code}")
            return None


        @schemathesis.check
        class every_job_ends:
            """Every job the gateway accepted (202) reaches a terminal state: echo jobs end in
            milliseconds, jobs past their deadline expire, cancelled ones are cancelled."""

            def __init__(self):
                self.jobs = {}

            def after_response(self, ctx, response, case):
                # Only accepted jobs are sure to be recorded (a fast-lane job answered in time is not).
                if case.method.upper() != "POST" or response.status_code != 202:
                    return None
                job = (response.headers.get("baton-job-id") or [None])[0]
                if job and job not in self.jobs:
                    self.jobs[job] = (response.request.url.split("/v1/", 1)[0], case.as_curl_command())
                return None

            def after_run(self, ctx):
                import requests

                stuck = []
                for job, (base, curl) in sorted(self.jobs.items()):
                    status = requests.get(f"{base}/v1/jobs/{job}", headers={"Prefer": "wait=2"}, timeout=10)
                    state = status.json().get("state") if status.status_code == 200 else status.status_code
                    if state not in ("succeeded", "failed", "cancelled", "expired"):
                        stuck.append(f"job {job} is still {state}; it was submitted by:\n    {curl}")
                if stuck:
                    raise AssertionError(f"{len(stuck)} of {len(self.jobs)} accepted jobs never ended:\n" + "\n".join(stuck[:5]))
        """#

    // MARK: - Python tools

    /// openapi-spec-validator and schemathesis, installed with pip when missing (once per run).
    static let pythonTools = Task<Void, Error> {
        try await ensurePythonPackage("openapi-spec-validator", module: "openapi_spec_validator")
        try await ensurePythonPackage("schemathesis", module: "schemathesis")
    }

    static func ensurePythonPackage(_ package: String, module: String) async throws {
        guard try await runTool(["python3", "-c", "import \(module)"], timeout: .seconds(60)).status != 0 else { return }
        var install = try await runTool(["python3", "-m", "pip", "install", "-q", package], timeout: .seconds(300))
        if install.status != 0 {  // Debian's own python3 (PEP 668)
            install = try await runTool(["python3", "-m", "pip", "install", "-q", "--break-system-packages", package], timeout: .seconds(300))
        }
        guard install.status == 0 else { throw TestError("pip install \(package) failed:\n\(install.output)") }
    }
}

/// A `baton gateway` child process for the fuzzer: on a free loopback port, without webhooks
/// or API keys (whatever the environment says), waits capped at 2 s.
private final class FuzzedGateway: Sendable {
    let process: Process
    let port: Int
    let logPath: String

    init(natsURL: String) throws {
        port = try freePort()
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("baton-fuzzed-gateway-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: try batonExecutable())
        process.arguments = [
            "gateway", "--nats-url", natsURL, "--host", "127.0.0.1", "--port", String(port),
            "--no-webhooks", "--max-wait", "2s", "--default-wait", "2s", "--log-level", "warning",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["BATON_WEBHOOK_SECRET"] = nil
        environment["BATON_API_KEYS"] = nil
        process.environment = environment
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The log from the crash message to the crashed thread's frames (or the log's end).
    var crashReport: String {
        let log = self.log
        guard let start = ["*** ", "Fatal error", "💣"].compactMap({ log.range(of: $0)?.lowerBound }).min() else {
            return String(log.suffix(4000))
        }
        return String(log[start...].prefix(4000))
    }

    func waitUntilReady() async throws {
        let client = HTTPClient(baseURL: "http://127.0.0.1:\(port)")
        try await waitUntil(timeout: .seconds(30)) {
            (try? await client.get("/readyz").status) == 200 || !self.process.isRunning
        }
        guard process.isRunning else { throw TestError("the gateway exited:\n\(log)") }
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: logPath)
    }
}

/// Runs a program (through `env`, so `python3` is found on PATH) to its end without blocking a
/// thread, killing it after `timeout`; returns its exit status and output (stdout and stderr).
private func runTool(
    _ arguments: [String], environment: [String: String] = [:], directory: URL = FileManager.default.temporaryDirectory,
    timeout: Duration
) async throws -> (status: Int32, output: String) {
    let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("baton-tool-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outputURL) }
    let output = try FileHandle(forWritingTo: outputURL)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.currentDirectoryURL = directory
    process.standardOutput = output
    process.standardError = output
    let watchdog = Task {
        try await Task.sleep(for: timeout)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    defer { watchdog.cancel() }
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    try? output.close()
    return (status, (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "")
}
