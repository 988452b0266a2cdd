import BatonCore
import BatonNATS
import BatonStore
import BatonTestSupport
import BatonWebhooks
import Foundation
import NIOCore
import Testing

/// Signed webhooks delivered with libcurl to a real loopback receiver.
@Suite("webhooks", .timeLimit(.minutes(2)))
struct WebhookTests {
    @Test func deliveredWithAValidSignature() async throws {
        let client = try await SharedSystem.get().client
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret)
        defer { Task { await receiver.stop() } }
        let submit = try await client.post(
            "/v1/jobs/echo", "hello hook",
            headers: ["Prefer": "respond-async", "Callback-Url": receiver.url, "Content-Type": "text/plain"])
        #expect(submit.status == 202)
        let id = try #require(submit.header("Baton-Job-Id"))
        let delivery = try #require(await receiver.waitForDeliveries(1, timeout: .seconds(10)).first)
        #expect(delivery.signatureValid)
        #expect(delivery.id == id)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any])
        #expect(payload["type"] as? String == "job.succeeded")
        let data = try #require(payload["data"] as? [String: Any])
        #expect(data["id"] as? String == id)
        #expect(data["state"] as? String == "succeeded")
        let answer = try #require(data["answer"] as? [String: Any])
        #expect(answer["status"] as? Int == 200)
        #expect(answer["contentType"] as? String == "text/plain")
        #expect(answer["body"] as? String == "hello hook")
        try await waitUntil(timeout: .seconds(5)) {
            let webhook = try await client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any]
            return webhook?["state"] as? String == "delivered" && webhook?["attempts"] as? Int == 1
        }
    }

    @Test func retriedWithTheSameIdAfterTwo503s() async throws {
        let client = try await SharedSystem.get().client
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret) { n in n <= 2 ? .status(503) : .ok }
        defer { Task { await receiver.stop() } }
        let submit = try await client.post("/v1/jobs/echo", "retry me", headers: ["Prefer": "respond-async", "Callback-Url": receiver.url])
        let id = try #require(submit.header("Baton-Job-Id"))
        let deliveries = await receiver.waitForDeliveries(3, timeout: .seconds(15))
        #expect(deliveries.count == 3)
        #expect(deliveries.allSatisfy { $0.id == id && $0.signatureValid })
        try await waitUntil(timeout: .seconds(5)) {
            let webhook = try await client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any]
            return webhook?["state"] as? String == "delivered" && webhook?["attempts"] as? Int == 3
        }
    }

    @Test func failingEveryAttemptIsDeadLettered() async throws {
        let client = try await SharedSystem.get().client
        // Every attempt fails (the first and three retries); the fifth delivery, the replay's, works.
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret) { n in n <= 4 ? .status(500) : .ok }
        defer { Task { await receiver.stop() } }
        let submit = try await client.post("/v1/jobs/echo", "never", headers: ["Prefer": "respond-async", "Callback-Url": receiver.url])
        let id = try #require(submit.header("Baton-Job-Id"))
        try await waitUntil(timeout: .seconds(15), every: .milliseconds(100)) {
            let webhook = try await client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any]
            return webhook?["state"] as? String == "failed"
        }
        let webhook = try #require(try await client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any])
        #expect(webhook["attempts"] as? Int == 4)  // the first attempt and three retries
        #expect(webhook["lastError"] as? String == "HTTP 500")
        let page = try await client.get("/v1/dead-letters?limit=1000").json()
        let entry = (page["deadLetters"] as? [[String: Any]])?.first { $0["job"] as? String == id && $0["kind"] as? String == "webhook" }
        #expect(entry != nil)

        // Replayed: the same job's webhook goes out again, once however often it is asked.
        let sequence = try #require(entry?["sequence"] as? Int)
        let replay = try await client.post("/v1/dead-letters/\(sequence)/replay", "")
        #expect(replay.status == 202)
        #expect(replay.header("Baton-Job-Id") == id)
        let again = try await client.post("/v1/dead-letters/\(sequence)/replay", "")
        #expect(again.status == 202)
        #expect(again.header("Idempotent-Replayed") == "true")
        try await waitUntil(timeout: .seconds(15), every: .milliseconds(100)) {
            let webhook = try await client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any]
            return webhook?["state"] as? String == "delivered"
        }
        let delivered = await receiver.waitForDeliveries(5, timeout: .seconds(5))
        #expect(delivered.count == 5, "four failed attempts, then the replay's")
        #expect(delivered.allSatisfy { $0.id == id && $0.signatureValid })
        // A replay publishes the job's terminal event again before it answers: two events (the
        // job's and the first replay's) mean the second sent nothing, and both have been
        // delivered already.
        #expect(try await storedEvents(of: id) == 2, "the second replay sent nothing more")
        #expect(receiver.deliveries().count == 5)
    }

    @Test func noWebhookWhenTheSyncCallGotTheAnswer() async throws {
        let client = try await SharedSystem.get().client
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret)
        defer { Task { await receiver.stop() } }
        let sync = try await client.post("/v1/jobs/echo", "sync", headers: ["Callback-Url": receiver.url])
        #expect(sync.status == 200)
        let id = try #require(sync.header("Baton-Job-Id"))
        let webhook = try await client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any]
        #expect(webhook?["state"] as? String == "skipped")
        // A sync call that switches to 202 gets its webhook.
        // 6 s: the wait of 1 s ends well before the job, however loaded the box.
        let switched = try await client.post("/v1/jobs/slow", #"{"ms": 6000}"#, headers: ["Prefer": "wait=1", "Callback-Url": receiver.url])
        #expect(switched.status == 202)
        let delivered = await receiver.waitForDeliveries(1, timeout: .seconds(30))
        #expect(delivered.map(\.id) == [try #require(switched.header("Baton-Job-Id"))])
    }

    /// The dispatcher takes a held webhook when its hold ends (queueing that took long can
    /// make that happen while the client still waits); the gateway then answers the call 202,
    /// not with the answer: the client gets the answer once, by webhook.
    @Test func aWebhookTakenBeforeTheAnswerCameMakesTheCallA202() async throws {
        let system = try await SharedSystem.get()
        let client = system.client
        let store = JobStore(jetStream: try JetStream(system.gateway.connection))
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret)
        defer { Task { await receiver.stop() } }
        // A job of its own service that runs until released: however slow the box, the webhook
        // is taken while the job runs and the client still waits (up to 50 s).
        let gate = try await GateService.start(natsURL: system.server.url)
        defer { Task { await gate.stop() } }
        async let call = client.post("/v1/jobs/\(gate.name)", "hold", headers: ["Prefer": "wait=50", "Callback-Url": receiver.url])
        try await waitUntil(timeout: .seconds(30)) { gate.started.contains("hold") }
        let found = try await store.list(JobQuery(service: gate.name, limit: 10)).jobs.first { $0.webhook?.url == receiver.url }
        let job = try #require(found?.id)
        // What the dispatcher does when the hold ends.
        #expect(try await store.settleHeldWebhook(job, to: .pending))
        gate.release()
        let response = try await call
        #expect(response.status == 202, "the answer comes by webhook")
        #expect(response.header("Baton-Job-Id") == job)
        let deliveries = await receiver.waitForDeliveries(1, timeout: .seconds(10))
        #expect(deliveries.map(\.id) == [job])
        try await expectDeliveredOnce(job, client: client, receiver: receiver)
    }

    @Test(arguments: ["ftp://example.com/hook", "not a url", "http://", "http://10.1.2.3/hook", "http://169.254.169.254/latest", "http://[fe80::1]/x"])
    func badCallbackURLIsRefusedAtSubmit(url: String) async throws {
        let client = try await SharedSystem.get().client
        let response = try await client.post("/v1/jobs/echo", "x", headers: ["Callback-Url": url])
        #expect(response.status == 400)
        #expect(response.header("Content-Type") == "application/problem+json")
    }

    @Test func loopbackIsRefusedUnlessAllowed() async throws {
        let system = try await SharedSystem.get()
        // A gateway with the default policy (and no part in deliveries).
        let strict = try await TestGateway.start(natsURL: system.server.url) { configuration in
            configuration.webhooks = testWebhooks(enabled: false)
            configuration.webhooks.policy = try! WebhookPolicy(allow: [])
        }
        for url in ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://192.168.1.10/hook", "http://[::1]/hook"] {
            let response = try await strict.client.post("/v1/jobs/echo", "x", headers: ["Callback-Url": url])
            #expect(response.status == 400, "\(url)")
            #expect(try response.json()["type"] as? String == "/problems/invalid-callback-url")
        }
        await strict.connection.close()
    }

    /// A terminal event whose record does not read as ended yet (a replica that lags) is looked
    /// at again until it does: the webhook carries the ended job, never an earlier state.
    @Test func anEventAheadOfItsRecordWaitsForTheRecord() async throws {
        let system = try await SharedSystem.get()
        let receiver = try await WebhookReceiver.start(secret: testWebhookSecret)
        defer { Task { await receiver.stop() } }
        let js = try JetStream(system.gateway.connection)
        let store = JobStore(jetStream: js)
        // A running job with a webhook, and its terminal event published too early.
        let id = JobID.make()
        var record = JobRecord(id: id, service: "echo", lane: .durable, state: .running)
        record.webhook = WebhookStatus(url: receiver.url, state: .pending)
        try await store.create(record, by: .gateway)
        let event = DoneEvent(job: id, service: "echo", state: .succeeded, status: 200, webhook: true)
        let published = try await js.publish(try JSON.encode(event), to: Subjects.done(service: "echo", job: id))
        // Once a dispatcher has the event, it finds the job running and hands the event back
        // for a second: a window past that second sees it looked at twice, and not delivered.
        try await waitUntil(timeout: .seconds(10)) {
            let state = try await js.consumerInfo(stream: Streams.events, consumer: Streams.webhooksConsumer)
            return state?.deliveredStreamSequence ?? 0 >= published.sequence
        }
        #expect(try await holdsThroughout(.milliseconds(1500)) { receiver.deliveries().isEmpty })

        // Now the job ends (its answer entry, without another event): the waiting event delivers it.
        let ending = JobEnding(answer: JobAnswer(status: 200, contentType: "text/plain", body: ByteBuffer(string: "late")), state: .succeeded, service: "echo")
        try await store.results.create(id, ending.answer.body, headers: ending.headers)
        let delivery = try #require(await receiver.waitForDeliveries(1, timeout: .seconds(10)).first)
        #expect(delivery.id == id)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any])
        #expect(payload["type"] as? String == "job.succeeded")
        #expect((payload["data"] as? [String: Any])?["answer"].flatMap { ($0 as? [String: Any])?["body"] as? String } == "late")
        try await expectDeliveredOnce(id, client: system.client, receiver: receiver)
    }

    /// The terminal events stored for job `id`: each is one a dispatcher delivers (or finds
    /// delivered already), so the count bounds the webhooks the job can ever cause.
    private func storedEvents(of id: String) async throws -> UInt64 {
        let js = try JetStream(try await SharedSystem.get().gateway.connection)
        return try await js.subjectCounts(in: Streams.events, matching: Subjects.done(job: id)).values.reduce(0, +)
    }

    /// Expects job `id`'s one webhook to stay the receiver's only one, without a window: once the
    /// record says `delivered`, a dispatcher that gets the event again acks it without a POST,
    /// and with one event stored there is nothing else to deliver.
    private func expectDeliveredOnce(_ id: String, client: HTTPClient, receiver: WebhookReceiver) async throws {
        try await waitUntil(timeout: .seconds(10)) {
            let webhook = try await client.get("/v1/jobs/\(id)").json()["webhook"] as? [String: Any]
            return webhook?["state"] as? String == "delivered"
        }
        #expect(try await storedEvents(of: id) == 1)
        #expect(receiver.deliveries().count == 1)
    }
}
