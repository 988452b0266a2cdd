import BatonCore
import BatonNATS
import BatonStore
import BatonTestSupport
import Foundation
import NIOCore
import Testing

/// "Any NATS client can be a worker": the Python worker of `examples/python-worker` (nats-py,
/// written from `docs/PROTOCOL.md`) serves `echo` behind the real gateway, on both lanes, and
/// what it writes to NATS decodes with Baton's own Swift types.
@Suite("python worker", .timeLimit(.minutes(2)))
struct PythonWorkerTests {
    @Test func durableLane() async throws {
        let system = try await SharedSystem.get()
        let client = system.client
        let service = "py-echo-\(randomSuffix())"
        let workerID = "py-test-\(service)"
        // Subscribed before the worker starts, so nothing is missed: progress events, every
        // job's end (the write of its answer entry), and terminal events (webhook jobs only).
        let progressEvents = try system.worker.subscribe(to: "baton.progress.\(service).>")
        let ends = try system.worker.subscribe(to: Subjects.allAnswers)
        let doneEvents = try system.worker.subscribe(to: "baton.done.\(service).>")
        defer {
            progressEvents.unsubscribe()
            ends.unsubscribe()
            doneEvents.unsubscribe()
        }
        let worker = try await PythonWorker.start(natsURL: system.server.url, service: service, lane: "durable", workerID: workerID)
        defer { worker.kill() }

        // Its registration is a ServiceRegistration.
        let jetStream = try JetStream(system.worker)
        let entry = try #require(try await KeyValueBucket(Streams.servicesBucket, jetStream: jetStream).get(service))
        let registration = try JSON.decode(ServiceRegistration.self, from: entry.value)
        #expect(registration.name == service)
        #expect(registration.lane == .durable)

        // 1. Sync: the answer on the same call.
        let response = try await client.post("/v1/jobs/\(service)", "hello from python", headers: ["Content-Type": "text/plain; charset=utf-8"])
        #expect(response.status == 200, "\(response.text)\n\(worker.log)")
        #expect(response.text == "hello from python")
        #expect(response.header("Content-Type") == "text/plain; charset=utf-8")
        let syncID = try #require(response.header("Baton-Job-Id"))
        #expect(JobID.isValid(syncID))

        // Its end is its answer entry, written before the sync answer came: a JobEnding.
        let end = try #require(await firstMessage(of: ends, subject: Subjects.answer(job: syncID)), "\(worker.log)")
        #expect(end.headers[Headers.state] == "succeeded")
        let ending = try #require(JobEnding(headers: end.headers, body: end.payload))
        #expect(ending.state == .succeeded)
        #expect(ending.answer.status == 200)
        #expect(ending.answer.contentType == "text/plain; charset=utf-8")
        #expect(String(buffer: ending.answer.body) == "hello from python")
        #expect(ending.service == service)
        #expect(ending.worker == workerID)
        #expect(ending.attempts == 1)
        #expect(ending.startedAt != nil)
        #expect(ending.error == nil)

        // The job as the gateway's GET shows it: the record merged with its end.
        let shown = try await client.get("/v1/jobs/\(syncID)").json()
        #expect(shown["state"] as? String == "succeeded")
        #expect(shown["attempts"] as? Int == 1)
        #expect(shown["status"] as? Int == 200)
        #expect(shown["worker"] as? String == workerID)
        #expect(shown["startedAt"] != nil && shown["finishedAt"] != nil)
        #expect((shown["progress"] as? [String: Any])?["percent"] as? Int == 100)
        #expect(shown["error"] == nil)
        // The record itself stays as the worker's running mark left it: nobody writes it for
        // the end (readers merge the answer entry into it), and it decodes as a JobRecord.
        let store = JobStore(jetStream: jetStream)
        let stored = try #require(try await store.records.get(syncID))
        let raw = try JSON.decode(JobRecord.self, from: stored.value)
        #expect(raw.state == .running)
        #expect(raw.worker == workerID)
        #expect(raw.priority == .normal)
        #expect(raw.traceparent != nil)
        #expect(try #require(try await store.record(syncID)).record.state == .succeeded)

        // Its progress event is a ProgressEvent.
        let progress = try JSON.decode(ProgressEvent.self, from: try #require(await firstMessage(of: progressEvents)).payload)
        #expect(progress.job == syncID)
        #expect(progress.service == service)
        #expect(progress.percent == 50)

        // 2. respond-async: 202, then the result and the status.
        let submit = try await client.post("/v1/jobs/\(service)", #"{"python": true}"#, headers: [
            "Content-Type": "application/json", "Prefer": "respond-async",
        ])
        #expect(submit.status == 202)
        let location = try #require(submit.header("Location"))
        let asyncID = try #require(submit.header("Baton-Job-Id"))
        let result = try await client.get(location + "/result", headers: ["Prefer": "wait=20"])
        #expect(result.status == 200, "\(result.text)\n\(worker.log)")
        #expect(result.text == #"{"python": true}"#)
        #expect(result.header("Content-Type") == "application/json")
        #expect(result.header("Baton-Job-Id") == asyncID)
        let status = try await client.get(location).json()
        #expect(status["state"] as? String == "succeeded")
        #expect(status["attempts"] as? Int == 1)
        #expect(status["worker"] as? String == workerID)
        let asyncEnd = try #require(await firstMessage(of: ends, subject: Subjects.answer(job: asyncID)))
        #expect(asyncEnd.headers[Headers.state] == "succeeded")

        // 3. Binary input comes back byte for byte.
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<100_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let binary = try await client.send("POST", "/v1/jobs/\(service)", headers: ["Content-Type": "application/octet-stream"], body: bytes)
        #expect(binary.status == 200)
        #expect(binary.body == bytes)
        #expect(binary.header("Content-Type") == "application/octet-stream")

        // 4. A job with a webhook: record fields the worker does not know of survive its
        //    compare-and-set writes (a webhook held while the client waits, skipped since the
        //    client got the answer), and its end is also announced on `baton.done.…` — the
        //    first terminal event of this service: the jobs without a webhook had none.
        let hooked = try await client.post("/v1/jobs/\(service)", "hook", headers: ["Callback-Url": "http://127.0.0.1:9/hook"])
        #expect(hooked.status == 200)
        let hookedID = try #require(hooked.header("Baton-Job-Id"))
        let hookedShown = try await client.get("/v1/jobs/\(hookedID)").json()
        #expect(hookedShown["state"] as? String == "succeeded")
        let hookedWebhook = hookedShown["webhook"] as? [String: Any]
        #expect(hookedWebhook?["url"] as? String == "http://127.0.0.1:9/hook")
        #expect(hookedWebhook?["state"] as? String == "skipped")
        let hookedEnd = try #require(await firstMessage(of: ends, subject: Subjects.answer(job: hookedID)))
        #expect(hookedEnd.headers[Headers.state] == "succeeded")
        let done = try #require(await firstMessage(of: doneEvents), "\(worker.log)")
        #expect(done.subject == "baton.done.\(service).\(hookedID)")
        #expect(done.headers["Nats-Msg-Id"] == "done-\(hookedID)")
        let event = try JSON.decode(DoneEvent.self, from: done.payload)
        #expect(event.job == hookedID)
        #expect(event.service == service)
        #expect(event.state == .succeeded)
        #expect(event.status == 200)
        #expect(event.webhook == true)

        try await worker.stop()
    }

    @Test func fastLane() async throws {
        let system = try await SharedSystem.get()
        let client = system.client
        let service = "py-echo-fast-\(randomSuffix())"
        let worker = try await PythonWorker.start(natsURL: system.server.url, service: service, lane: "fast", workerID: "py-test-\(service)")
        defer { worker.kill() }

        let response = try await client.post("/v1/jobs/\(service)", "quick python", headers: ["Content-Type": "text/plain"])
        #expect(response.status == 200, "\(response.text)\n\(worker.log)")
        #expect(response.text == "quick python")
        #expect(response.header("Content-Type") == "text/plain")
        #expect(JobID.isValid(response.header("Baton-Job-Id") ?? ""))

        // respond-async on the fast lane: the gateway records the answer when it comes.
        let submit = try await client.post("/v1/jobs/\(service)", "later", headers: ["Content-Type": "text/plain", "Prefer": "respond-async"])
        #expect(submit.status == 202)
        let location = try #require(submit.header("Location"))
        let result = try await client.get(location + "/result", headers: ["Prefer": "wait=20"])
        #expect(result.status == 200)
        #expect(result.text == "later")
        let status = try await client.get(location).json()
        #expect(status["state"] as? String == "succeeded")
        #expect(status["lane"] as? String == "fast")

        try await worker.stop()
    }
}

extension PythonWorkerTests {
    /// A server that wants TLS with client certificates and an NKey user: the Python worker
    /// takes the same BATON_NATS_* variables as `baton worker`, the gateway flags.
    @Test func overTLSWithAnNKeyUser() async throws {
        try await ensurePythonPackage("nkeys", module: "nkeys")
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.tlsConfiguration(verifyClients: true) + "\n" + material.nkeyConfiguration, name: "py-tls-nkey")
        defer { server.stop() }
        let tls = ["--nats-tls-ca", material.caFile, "--nats-tls-cert", material.clientCertificateFile, "--nats-tls-key", material.clientKeyFile]
        let gateway = try GatewayProcess(natsURL: server.url, arguments: ["--no-webhooks", "--nats-nkey-seed", material.nkeySeedFile] + tls)
        defer { gateway.kill() }
        do {
            try await gateway.waitUntilReady()
        } catch {
            // Once in ~20 CI runs nats-server 2.9.10 refused this first connect ("Authorization
            // Violation"); its log says why.
            Issue.record("the gateway did not come up; nats-server's log:\n\(server.log)")
            throw error
        }
        let service = "py-echo-tls-\(randomSuffix())"
        let worker = try await PythonWorker.start(
            natsURL: "tls://127.0.0.1:\(server.port)", service: service, lane: "durable", workerID: "py-test-\(service)",
            environment: [
                "BATON_NATS_TLS_CA": material.caFile, "BATON_NATS_TLS_CERT": material.clientCertificateFile,
                "BATON_NATS_TLS_KEY": material.clientKeyFile, "BATON_NATS_NKEY_SEED": material.nkeySeedFile,
            ])
        defer { worker.kill() }
        let response = try await gateway.client.post("/v1/jobs/\(service)", "secured python", headers: ["Content-Type": "text/plain"])
        #expect(response.status == 200, "\(response.text)\n\(worker.log)")
        #expect(response.text == "secured python")
        try await worker.stop()
    }
}

/// `examples/python-worker/worker.py` as a child process, its output in a log file.
private final class PythonWorker: Sendable {
    let process: Process
    let logPath: String

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/python-worker/worker.py").standardizedFileURL.path

    /// Installs nats-py once per test process if it is missing.
    static let natsPy = Task<Void, Error> { try await ensurePythonPackage("nats-py", module: "nats.aio.client") }

    private init(process: Process, logPath: String) {
        self.process = process
        self.logPath = logPath
    }

    static func start(
        natsURL: String, service: String, lane: String, workerID: String, environment extra: [String: String] = [:]
    ) async throws -> PythonWorker {
        try await natsPy.value
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("baton-python-worker-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--nats-url", natsURL, "--service", service, "--lane", lane, "--worker-id", workerID, "--verbose"]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        environment.merge(extra) { $1 }
        process.environment = environment
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let worker = PythonWorker(process: process, logPath: logPath)
        do {
            try await waitUntil(timeout: .seconds(30)) { worker.log.contains("worker serving") || !worker.process.isRunning }
        } catch {
            worker.kill()
            throw TestError("the Python worker did not start:\n\(worker.log)")
        }
        guard process.isRunning else { throw TestError("the Python worker exited:\n\(worker.log)") }
        return worker
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops it gracefully (SIGTERM) and expects a clean exit.
    func stop() async throws {
        guard process.isRunning else { throw TestError("the Python worker had exited:\n\(log)") }
        Foundation.kill(process.processIdentifier, SIGTERM)
        do {
            try await waitUntil(timeout: .seconds(15), every: .milliseconds(100)) { !self.process.isRunning }
        } catch {
            throw TestError("the Python worker did not stop on SIGTERM:\n\(log)")
        }
        #expect(process.terminationStatus == 0, "\(log)")
        #expect(log.contains("worker stopped"))
    }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

private func randomSuffix() -> String {
    String((0..<8).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
}

/// The first message of a subscription (on `subject`, if given), or nil after `timeout`.
private func firstMessage(of subscription: NATSSubscription, subject: String? = nil, timeout: Duration = .seconds(10)) async -> NATSMessage? {
    await withTaskGroup(of: NATSMessage?.self) { group in
        group.addTask {
            for await message in subscription where subject == nil || message.subject == subject { return message }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
