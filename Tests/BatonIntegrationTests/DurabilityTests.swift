import BatonCore
import BatonNATS
import BatonExamples
import BatonStore
import BatonTestSupport
import BatonWorker
import EmbeddedNATS
import Foundation
import NIOCore
import Testing

/// The durable lane survives worker crashes: real `baton worker` processes, SIGKILL, a
/// nats-server of this suite's own (so no in-process worker takes the jobs).
@Suite("durability", .serialized, .timeLimit(.minutes(2)))
struct DurabilityTests {
    static let system = Task<(NATSServerProcess, TestGateway), Error> {
        let server = try await NATSServerProcess.shared("durability")
        // This gateway takes callbacks but delivers no webhooks (the gateway-crash test decides who does).
        return (server, try await TestGateway.start(natsURL: server.url) { $0.webhooks = testWebhooks(enabled: false) })
    }

    @Test func workerKilledMidJobIsRedeliveredToAnotherWorker() async throws {
        let (server, gateway) = try await Self.system.value
        let client = gateway.client
        let workerArguments = ["--services", "slow", "--ack-wait", "2s"]
        let first = try WorkerProcess(natsURL: server.url, arguments: workerArguments)
        defer { first.kill() }
        try await first.waitUntilServing()

        // 12 s in 24 steps: the first step shows after 0.5 s, and the kill comes long before the
        // end even on a loaded box (with 2 s in 4 steps, and once with 5 s in 10 steps, the first
        // worker finished first on a loaded CI box).
        let submit = try await client.post("/v1/jobs/slow", #"{"ms": 12000, "steps": 24}"#, headers: ["Prefer": "respond-async"])
        #expect(submit.status == 202)
        let location = try #require(submit.header("Location"))
        // Wait until the first worker runs it and has made progress, then kill it.
        try await waitUntil(timeout: .seconds(10)) {
            let status = try await client.get(location).json()
            return status["state"] as? String == "running" && status["progress"] != nil
        }
        #expect(try await client.get(location).json()["worker"] as? String == workerName(first.pid))
        first.kill(SIGKILL)

        let second = try WorkerProcess(natsURL: server.url, arguments: workerArguments)
        defer { second.kill() }
        try await second.waitUntilServing()
        try await waitUntil(timeout: .seconds(40), every: .milliseconds(200)) {
            try await client.get(location).json()["state"] as? String == "succeeded"
        }
        let status = try await client.get(location).json()
        #expect(status["attempts"] as? Int == 2)
        #expect(status["worker"] as? String == workerName(second.pid))
        let result = try await client.get(location + "/result")
        #expect(result.status == 200)
        #expect(result.text == #"{"slept_ms":12000}"#)
    }

    @Test func jobsSubmittedWithoutWorkersRunWhenOneStarts() async throws {
        let (server, gateway) = try await Self.system.value
        let client = gateway.client
        // A worker registers `echo` once, then goes away.
        try await WorkerProcess.registerAndLeave(natsURL: server.url, arguments: ["--services", "echo"])

        var locations: [(String, String)] = []
        for i in 0..<10 {
            let body = "queued \(i)"
            let submit = try await client.post("/v1/jobs/echo", body, headers: ["Prefer": "wait=0", "Content-Type": "text/plain"])
            #expect(submit.status == 202)
            locations.append((try #require(submit.header("Location")), body))
        }
        // No worker is alive (the one that registered has exited), so nothing can take them: no
        // time needs to pass for "still queued" to mean something.
        for (location, _) in locations {
            #expect(try await client.get(location).json()["state"] as? String == "queued")
        }

        let worker = try WorkerProcess(natsURL: server.url, arguments: ["--services", "echo"])
        defer { worker.kill() }
        try await worker.waitUntilServing()
        for (location, body) in locations {
            try await waitUntil(timeout: .seconds(10)) {
                try await client.get(location + "/result").status == 200
            }
            let result = try await client.get(location + "/result")
            #expect(result.text == body)
            #expect(result.header("Content-Type") == "text/plain")
        }
    }

    private func workerName(_ pid: Int32) -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        return "\(host)-\(pid)"
    }

    @Test func webhookOfAKilledGatewayIsDeliveredByAnother() async throws {
        let (server, gateway) = try await Self.system.value
        let worker = try WorkerProcess(natsURL: server.url, arguments: ["--services", "echo"])
        defer { worker.kill() }
        try await worker.waitUntilServing()
        // The receiver hangs on the first attempt, so gateway A is killed mid-delivery.
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret) { n in n == 1 ? .hang : .ok }
        defer { Task { await receiver.stop() } }
        let a = try GatewayProcess(natsURL: server.url, arguments: [
            "--webhook-secret", testWebhookSecret.description, "--webhook-allow", "127.0.0.0/8",
            "--webhook-timeout", "60s", "--webhook-ack-wait", "2s",
        ])
        defer { a.kill() }
        try await a.waitUntilReady()

        let submit = try await gateway.client.post(
            "/v1/jobs/echo", "orphan", headers: ["Prefer": "respond-async", "Callback-Url": receiver.url])
        let id = try #require(submit.header("Baton-Job-Id"))
        let first = await receiver.waitForDeliveries(1, timeout: .seconds(15))
        #expect(first.map(\.id) == [id])
        // A heartbeats its delivery: while it lives, nobody takes the event again (A itself would
        // POST it again) for longer than its ack wait (2 s from the delivery, which the receiver
        // saw a little later). The time is the point here.
        let held = try await holdsThroughout(.milliseconds(2500)) { receiver.deliveries().count == 1 }
        #expect(held, "the event was delivered again while A held it")
        a.kill(SIGKILL)

        let b = try await TestGateway.start(natsURL: server.url) { configuration in
            configuration.webhooks = testWebhooks()
            configuration.webhooks.ackWait = .seconds(2)
        }
        defer { Task { await b.connection.close() } }
        let deliveries = await receiver.waitForDeliveries(2, timeout: .seconds(20))
        #expect(deliveries.count == 2)
        #expect(deliveries.allSatisfy { $0.id == id && $0.signatureValid })
        try await waitUntil(timeout: .seconds(5)) {
            let webhook = try await gateway.client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any]
            return webhook?["state"] as? String == "delivered"
        }
        #expect(receiver.deliveries().count == 2)
    }

    @Test func sigtermLetsRunningJobsFinishWithinTheGraceThenHandsBack() async throws {
        let (server, gateway) = try await Self.system.value
        let client = gateway.client
        // Within the grace: the job finishes on the stopping worker.
        let patient = try WorkerProcess(natsURL: server.url, arguments: ["--services", "slow", "--shutdown-grace", "10s"])
        defer { patient.kill() }
        try await patient.waitUntilServing()
        let first = try await client.post("/v1/jobs/slow", #"{"ms": 1500}"#, headers: ["Prefer": "respond-async"])
        let firstLocation = try #require(first.header("Location"))
        try await waitUntil(timeout: .seconds(10)) { try await client.get(firstLocation).json()["state"] as? String == "running" }
        kill(patient.pid, SIGTERM)
        let finished = try await client.get(firstLocation + "/result", headers: ["Prefer": "wait=10"])
        #expect(finished.status == 200)
        let status = try await client.get(firstLocation).json()
        #expect(status["attempts"] as? Int == 1)
        #expect(status["worker"] as? String == workerName(patient.pid))
        await waitForExit(patient.process)
        #expect(patient.process.terminationStatus == 0)

        // Past the grace: the job is handed back and another worker runs it.
        let hasty = try WorkerProcess(natsURL: server.url, arguments: ["--services", "slow", "--shutdown-grace", "300ms"])
        defer { hasty.kill() }
        try await hasty.waitUntilServing()
        let second = try await client.post("/v1/jobs/slow", #"{"ms": 4000}"#, headers: ["Prefer": "respond-async"])
        let secondLocation = try #require(second.header("Location"))
        try await waitUntil(timeout: .seconds(10)) { try await client.get(secondLocation).json()["state"] as? String == "running" }
        kill(hasty.pid, SIGTERM)
        await waitForExit(hasty.process)
        let next = try WorkerProcess(natsURL: server.url, arguments: ["--services", "slow"])
        defer { next.kill() }
        try await next.waitUntilServing()
        let result = try await client.get(secondLocation + "/result", headers: ["Prefer": "wait=20"])
        #expect(result.status == 200)
        let handedBack = try await client.get(secondLocation).json()
        #expect(handedBack["worker"] as? String == workerName(next.pid))
        #expect((handedBack["attempts"] as? Int ?? 0) >= 2)
    }

    /// A finished job whose end NATS cannot take yet (its stream is electing a leader) stays in
    /// progress while the worker tries again; it is not run again (no attempt spent on NATS's
    /// trouble), and it is acked once its end is stored.
    @Test func anEndNATSCannotTakeYetIsRetriedWithoutRunningTheJobAgain() async throws {
        let (server, gateway) = try await Self.system.value
        let client = gateway.client
        let worker = try WorkerProcess(natsURL: server.url, arguments: ["--services", "slow", "--ack-wait", "2s"])
        defer { worker.kill() }
        try await worker.waitUntilServing()
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [server.url], name: "test-admin"), logger: quietLogger("admin"))
        defer { Task { await connection.close() } }
        let js = try JetStream(connection)
        let consumer = Streams.consumer(service: "slow", priority: .normal)

        let submit = try await client.post("/v1/jobs/slow", #"{"ms": 1500}"#, headers: ["Prefer": "respond-async"])
        let location = try #require(submit.header("Location"))
        try await waitUntil(timeout: .seconds(10)) { try await client.get(location).json()["state"] as? String == "running" }
        // No stream takes answers now: ending the job fails with "no responders".
        try await js.deleteStream("KV_\(Streams.resultsBucket)")
        // The job ends (the worker says it cannot record the end yet), then longer than the ack
        // wait (2 s) passes: the worker keeps it in progress, so it is never redelivered.
        try await waitUntil(timeout: .seconds(10)) { worker.log.contains("cannot record the end of the job yet; retrying") }
        let kept = try await holdsThroughout(.milliseconds(2500)) {
            let state = try await js.consumerInfo(stream: Streams.jobs, consumer: consumer)
            return state?.numAckPending == 1 && state?.numRedelivered == 0
        }
        #expect(kept, "the job was handed back or redelivered while its end was retried")

        try await Layout().ensure(js)
        try await waitUntil(timeout: .seconds(15), every: .milliseconds(200)) {
            try await js.consumerInfo(stream: Streams.jobs, consumer: consumer)?.numAckPending == 0
        }
        let status = try await client.get(location).json()
        #expect(status["state"] as? String == "succeeded")
        #expect(status["attempts"] as? Int == 1)
        #expect(try await client.get(location + "/result").text == #"{"slept_ms":1500}"#)
    }

    /// A webhook that was delivered while NATS cannot take the record write is recorded by
    /// retrying the write in place: it is not POSTed again.
    @Test func aDeliveredWebhookIsNotSentAgainWhileItsOutcomeCannotBeRecorded() async throws {
        let (server, gateway) = try await Self.system.value
        let worker = try WorkerProcess(natsURL: server.url, arguments: ["--services", "echo"])
        defer { worker.kill() }
        try await worker.waitUntilServing()
        // The first delivery is answered after 1.5 s; meanwhile records stop taking writes.
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret) { n in n == 1 ? .okAfter(.milliseconds(1500)) : .ok }
        defer { Task { await receiver.stop() } }
        let delivering = try await TestGateway.start(natsURL: server.url) { configuration in
            configuration.webhooks = testWebhooks()
            configuration.webhooks.ackWait = .seconds(2)
        }
        defer { Task { await delivering.connection.close() } }
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [server.url], name: "test-admin"), logger: quietLogger("admin"))
        defer { Task { await connection.close() } }
        let js = try JetStream(connection)

        let submit = try await gateway.client.post("/v1/jobs/echo", "once", headers: ["Prefer": "respond-async", "Callback-Url": receiver.url])
        let id = try #require(submit.header("Baton-Job-Id"))
        #expect(await receiver.waitForDeliveries(1, timeout: .seconds(10)).map(\.id) == [id])
        // Records can be read but not written now: no value fits the bucket's size limit.
        let records = try await KeyValueBucket.ensure(Streams.recordsBucket, jetStream: js, ttl: Layout().retention, maxValueSize: 16)
        await #expect(throws: NATSError.self) { try await records.put("probe-\(id)", ByteBuffer(repeating: 0x61, count: 64)) }
        // The answer comes 1.5 s after the delivery and its record write fails from then on; for
        // longer than the ack wait (2 s) after that, the event is not delivered again (the record
        // still says pending: a redelivery would POST again). The time is the point here.
        let notResent = try await holdsThroughout(.seconds(4)) { receiver.deliveries().count == 1 }
        #expect(notResent, "the webhook was sent again while its outcome could not be recorded")

        try await Layout().ensure(js)
        try await waitUntil(timeout: .seconds(10)) {
            let webhook = try await gateway.client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any]
            return webhook?["state"] as? String == "delivered"
        }
        #expect(receiver.deliveries().count == 1)
    }

    /// A redelivered job with a webhook that ended already is acked only once its terminal event
    /// is stored: the worker that ended it may have died, or given up on NATS, between its end
    /// and the event, and the webhook dispatchers wait for that event.
    @Test func aRedeliveredEndedJobIsAckedOnlyOnceItsEventIsStored() async throws {
        let (server, gateway) = try await Self.system.value
        let client = gateway.client
        // An in-process worker that gives up on recording an end after 0.5 s (default 30 s); what
        // it decides on a redelivery is known from its log.
        let log = LogCapture()
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [server.url], name: "test-worker"), logger: quietLogger("worker"))
        defer { Task { await connection.close() } }
        var configuration = WorkerConfiguration(workerID: "impatient")
        configuration.endRetryLimit = .milliseconds(500)
        configuration.ackWait = .seconds(2)
        let worker = Worker(
            connection: connection, services: [try #require(ExampleServices.definition("slow"))], configuration: configuration,
            logger: log.logger("worker", level: .warning))
        let running = Task { try await worker.run() }
        defer { running.cancel() }
        let js = try JetStream(connection)
        let consumer = Streams.consumer(service: "slow", priority: .normal)
        try await waitUntil(timeout: .seconds(10)) { try await js.consumerInfo(stream: Streams.jobs, consumer: consumer)?.numWaiting ?? 0 > 0 }
        try await js.deleteStream(Streams.events)

        let submit = try await client.post(
            "/v1/jobs/slow", #"{"ms": 200}"#, headers: ["Prefer": "respond-async", "Callback-Url": "http://127.0.0.1:9/hook"])
        let location = try #require(submit.header("Location"))
        try await waitUntil(timeout: .seconds(10)) { try await client.get(location).json()["state"] as? String == "succeeded" }
        // The worker gave up on the event and handed the job back; the redelivery finds the
        // record ended and cannot publish the event either: it hands the job back again, and the
        // job must still be held.
        try await waitUntil(timeout: .seconds(10)) { log.contains("cannot publish the end of the job; handing it back") }
        let held = try await js.consumerInfo(stream: Streams.jobs, consumer: consumer)
        #expect(held?.numAckPending == 1)
        #expect((held?.numRedelivered ?? 0) >= 1)

        try await restoreStreamsThenWaitForTheEventAndAck(js, consumer: consumer)
        let status = try await client.get(location).json()
        #expect(status["attempts"] as? Int == 1)
    }

    /// Recreates the streams a test deleted, then waits until the job's terminal event is stored
    /// (the only event in the recreated stream) and the job is acked.
    private func restoreStreamsThenWaitForTheEventAndAck(_ js: JetStream, consumer: String) async throws {
        try await Layout().ensure(js)
        try await waitUntil(timeout: .seconds(15), every: .milliseconds(200)) {
            let events = try await js.streamMessageCount(Streams.events)
            let state = try await js.consumerInfo(stream: Streams.jobs, consumer: consumer)
            return events == 1 && state?.numAckPending == 0
        }
    }
}
