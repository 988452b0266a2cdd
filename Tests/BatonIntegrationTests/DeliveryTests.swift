import BatonCore
import BatonNATS
import BatonTestSupport
import BatonWebhooks
import BatonWorker
import Foundation
import Synchronization
import Testing

/// Every way back to the client after the synchronous wait: long-poll, server-sent events,
/// cancellation, idempotency, deadlines, retries and dead letters. Real nats-server, real HTTP.
@Suite("delivery", .timeLimit(.minutes(2)))
struct DeliveryTests {
    // MARK: - Long-poll

    @Test func longPollReturnsAsSoonAsTheJobEnds() async throws {
        let client = try await SharedSystem.get().client
        // A push answers within a few milliseconds of the job's end; a poll of the record every
        // half second answers within 100 ms one time in five. So the test looks for five
        // answers in a row within 100 ms (a poll does that about once in 3,125 tries: over a
        // minute of them, ~3%), and keeps trying for up to 60 s: the other suites share the two
        // cores and the server, and the loaded first half of a CI run held answers back by up
        // to 707 ms (three in a row took up to 20 s of tries in the gates of 2026-12-04).
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(60))
        var lags: [Int64] = []
        while clock.now < deadline, !Self.endsWithQuickAnswers(lags) {
            let submit = try await client.post("/v1/jobs/slow", #"{"ms": 300}"#, headers: ["Prefer": "respond-async"])
            let location = try #require(submit.header("Location"))
            let result = try await client.get(location + "/result", headers: ["Prefer": "wait=10"])
            let answeredAt = Timestamp.now
            #expect(result.status == 200)
            #expect(result.text == #"{"slept_ms":300}"#)
            #expect(result.header("Preference-Applied") == "wait=10")
            let status = try await client.get(location).json()
            let finishedAt = try #require((status["finishedAt"] as? String).flatMap { Timestamp(rfc3339: $0) })
            lags.append(answeredAt.milliseconds - finishedAt.milliseconds)
        }
        #expect(Self.endsWithQuickAnswers(lags), "long-poll answered \(lags) ms after the job finished")
    }

    /// The last five answers came within 100 ms of their job's end.
    private static func endsWithQuickAnswers(_ lags: [Int64]) -> Bool {
        lags.count >= 5 && lags.suffix(5).allSatisfy { $0 < 100 }
    }

    @Test func longPollEndsWhenTheWaitElapses() async throws {
        let client = try await SharedSystem.get().client
        // A job of 30 s, far longer than the waits and any stall of a loaded box; cancelled at
        // the end so it does not hold a worker's slot.
        let submit = try await client.post("/v1/jobs/slow", #"{"ms": 30000}"#, headers: ["Prefer": "respond-async"])
        let location = try #require(submit.header("Location"))
        let clock = ContinuousClock()
        let started = clock.now
        let status = try await client.get(location, headers: ["Prefer": "wait=1"])
        let elapsed = clock.now - started
        #expect(status.status == 200)
        #expect(try status.json()["state"] as? String != "succeeded")
        #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(10))
        let result = try await client.get(location + "/result", headers: ["Prefer": "wait=1"])
        #expect(result.status == 202)
        #expect(try await client.send("DELETE", location).status == 200)
    }

    // MARK: - Server-sent events

    @Test func eventStreamShowsStateProgressAndEnd() async throws {
        let client = try await SharedSystem.get().client
        let submit = try await client.post("/v1/jobs/slow", #"{"ms": 800, "steps": 4}"#, headers: ["Prefer": "respond-async"])
        let location = try #require(submit.header("Location"))
        // The stream ends after the terminal event, so the whole body can be read at once.
        let stream = try await client.get(location + "/events")
        #expect(stream.status == 200)
        #expect(stream.header("Content-Type") == "text/event-stream")
        let events = stream.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        let names = events.compactMap { $0.split(separator: "\n").first { $0.hasPrefix("event: ") }?.dropFirst(7) }.map(String.init)
        #expect(names.first == "state")
        #expect(names.last == "done")
        #expect(names.filter { $0 == "progress" }.count >= 2, "events: \(names)")
        let done = try #require(events.last?.split(separator: "\n").first { $0.hasPrefix("data: ") }?.dropFirst(6))
        let final = try JSONSerialization.jsonObject(with: Data(done.utf8)) as? [String: Any]
        #expect(final?["state"] as? String == "succeeded")
    }

    @Test func eventStreamOfAnEndedJobIsStateThenDone() async throws {
        let client = try await SharedSystem.get().client
        let submit = try await client.post("/v1/jobs/echo", "x")
        let id = try #require(submit.header("Baton-Job-Id"))
        let stream = try await client.get("/v1/jobs/\(id)/events")
        #expect(stream.text.hasPrefix("event: state\n"))
        #expect(stream.text.contains("event: done\n"))
        #expect(try await client.get("/v1/jobs/00000000000000000000000000/events").status == 404)
    }

    // MARK: - Cancellation

    /// A job cancelled while it waits in the queue is never run: the cancel deletes its message
    /// from the jobs stream (its record holds the message's sequence), and a worker that took it
    /// anyway would find it ended (older servers, on which every delivery looks; PROTOCOL §6.7).
    /// On nats-server 2.10.14+ a first delivery does not look: without the delete the job runs.
    @Test func aJobCancelledWhileQueuedIsNeverRun() async throws {
        let system = try await SharedSystem.get()
        let gate = try await GateService.start(natsURL: system.server.url)
        defer { Task { await gate.stop() } }
        let client = system.client
        let jetStream = try JetStream(system.gateway.connection)
        let subject = Subjects.job(service: gate.name, priority: .normal)
        // Concurrency 1: the blocker runs until released while the job to cancel waits behind it.
        let blocker = try await gate.hold(through: client)
        let queued = try await client.post("/v1/jobs/\(gate.name)", "1", headers: ["Prefer": "respond-async"])
        let location = try #require(queued.header("Location"))
        let sequence = try #require(try queued.json()["queueSequence"] as? Int)
        #expect(sequence > 0)
        #expect(try await jetStream.subjectCounts(in: Streams.jobs, matching: subject)[subject] == 2)
        let cancel = try await client.send("DELETE", location)
        #expect(cancel.status == 200)
        #expect(try cancel.json()["state"] as? String == "cancelled")
        // Only the blocker's message is left (held by its worker until it ends).
        #expect(try await jetStream.subjectCounts(in: Streams.jobs, matching: subject)[subject] == 1)
        #expect(try await jetStream.deleteMessage(stream: Streams.jobs, sequence: UInt64(sequence)) == false)
        gate.release()
        // The blocker ends, then a job queued after the cancelled one runs: the cancelled one
        // was taken (in order) and acked without running.
        #expect(try await client.get(try #require(blocker.header("Location")) + "/result", headers: ["Prefer": "wait=20"]).status == 200)
        #expect(try await client.post("/v1/jobs/\(gate.name)", "2").text == "2")
        #expect(gate.started == ["hold", "2"])
        let status = try await client.get(location).json()
        #expect(status["state"] as? String == "cancelled")
        #expect(status["attempts"] as? Int == 0)
        #expect(try await client.get(location + "/result").status == 409)
    }

    @Test(arguments: [(Lane.durable, HandlerStart.inNewTask), (.fast, .inNewTask), (.fast, .immediately)])
    func cancelRunningJobCancelsItsHandler(lane: Lane, start: HandlerStart) async throws {
        let system = try await SharedSystem.get()
        let gate = try await GateService.start(natsURL: system.server.url, lane: lane, start: start)
        defer { Task { await gate.stop() } }
        let client = system.client
        let submit = try await client.post("/v1/jobs/\(gate.name)", "10000", headers: ["Prefer": "respond-async"])
        let location = try #require(submit.header("Location"))
        try await waitUntil(timeout: .seconds(30)) { gate.started.contains("10000") }
        let cancel = try await client.send("DELETE", location)
        let cancelledAt = ContinuousClock.now
        #expect(cancel.status == 200)
        #expect(try cancel.json()["state"] as? String == "cancelled")
        // The handler would run 10 s uncancelled; 5 s leaves a loaded box room.
        try await waitUntil(timeout: .seconds(5), every: .milliseconds(10)) { gate.cancelledAt("10000") != nil }
        let seen = try #require(gate.cancelledAt("10000"))
        #expect(seen - cancelledAt < .seconds(5))
        let result = try await client.get(location + "/result")
        #expect(result.status == 409)
        #expect(try result.json()["type"] as? String == "/problems/job-cancelled")
        // A job that ended cannot be cancelled.
        let again = try await client.send("DELETE", location)
        #expect(again.status == 409)
        #expect(again.header("Content-Type") == "application/problem+json")
    }

    @Test func cancelledQueuedJobNeverRuns() async throws {
        let system = try await SharedSystem.get()
        let gate = try await GateService.start(natsURL: system.server.url)
        defer { Task { await gate.stop() } }
        let client = system.client
        // Concurrency 1: the second job waits in the queue behind the first, held until released.
        let first = try await gate.hold(through: client)
        let queued = try await client.post("/v1/jobs/\(gate.name)", "801", headers: ["Prefer": "respond-async"])
        let location = try #require(queued.header("Location"))
        #expect(try await client.get(location).json()["state"] as? String == "queued")
        #expect(try await client.send("DELETE", location).status == 200)
        gate.release()
        let third = try await client.post("/v1/jobs/\(gate.name)", "10", headers: ["Prefer": "wait=20"])
        #expect(third.status == 200)
        #expect(try await client.get(try #require(first.header("Location")) + "/result", headers: ["Prefer": "wait=5"]).status == 200)
        #expect(!gate.started.contains("801"))
        let status = try await client.get(location).json()
        #expect(status["state"] as? String == "cancelled")
        #expect(status["startedAt"] == nil)
    }

    /// A fast-lane worker runs at most its concurrency of requests at once; the others wait
    /// their turn in the worker (not lost, not run beside the first) and are answered in order.
    @Test(arguments: [HandlerStart.inNewTask, .immediately])
    func aFastLaneWorkerQueuesRequestsBeyondItsConcurrency(start: HandlerStart) async throws {
        let system = try await SharedSystem.get()
        let gate = try await GateService.start(natsURL: system.server.url, lane: .fast, start: start)
        defer { Task { await gate.stop() } }
        let client = system.client
        let first = try await gate.hold(through: client)
        let queued = try await withThrowingTaskGroup(of: String.self) { group in
            for input in ["11", "12", "13"] {
                group.addTask {
                    let response = try await client.post("/v1/jobs/\(gate.name)", input, headers: ["Prefer": "respond-async"])
                    return try #require(response.header("Location"))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(gate.started == ["hold"])
        gate.release()
        for location in queued + [try #require(first.header("Location"))] {
            let result = try await client.get(location + "/result", headers: ["Prefer": "wait=20"])
            #expect(result.status == 200)
        }
        #expect(Set(gate.started) == ["hold", "11", "12", "13"])
        #expect(gate.started.first == "hold")
    }

    // MARK: - Idempotency

    @Test func idempotentRetryReturnsTheSameJob() async throws {
        let client = try await SharedSystem.get().client
        let key = UUID().uuidString
        let first = try await client.post("/v1/jobs/echo", "once", headers: ["Idempotency-Key": key, "Content-Type": "text/plain"])
        #expect(first.status == 200)
        let id = try #require(first.header("Baton-Job-Id"))
        let again = try await client.post("/v1/jobs/echo", "once", headers: ["Idempotency-Key": key, "Content-Type": "text/plain"])
        #expect(again.status == 200)
        #expect(again.header("Baton-Job-Id") == id)
        #expect(again.header("Idempotent-Replayed") == "true")
        #expect(again.text == "once")
        let conflict = try await client.post("/v1/jobs/echo", "twice", headers: ["Idempotency-Key": key, "Content-Type": "text/plain"])
        #expect(conflict.status == 422)
        #expect(conflict.header("Content-Type") == "application/problem+json")

        let asyncKey = UUID().uuidString
        let accepted = try await client.post("/v1/jobs/slow", #"{"ms": 1500}"#, headers: ["Idempotency-Key": asyncKey, "Prefer": "respond-async"])
        #expect(accepted.status == 202)
        let replayed = try await client.post("/v1/jobs/slow", #"{"ms": 1500}"#, headers: ["Idempotency-Key": asyncKey, "Prefer": "respond-async"])
        #expect(replayed.status == 202)
        #expect(replayed.header("Location") == accepted.header("Location"))
    }

    @Test func idempotentFastLaneJobRunsOnce() async throws {
        let client = try await SharedSystem.get().client
        let key = UUID().uuidString
        let first = try await client.post("/v1/jobs/echo-fast", "fast once", headers: ["Idempotency-Key": key])
        #expect(first.status == 200)
        let again = try await client.post("/v1/jobs/echo-fast", "fast once", headers: ["Idempotency-Key": key])
        #expect(again.status == 200)
        #expect(again.header("Baton-Job-Id") == first.header("Baton-Job-Id"))
        #expect(again.text == "fast once")
    }

    // MARK: - Deadlines

    @Test func jobPastItsDeadlineIsNotRun() async throws {
        let system = try await SharedSystem.get()
        let gate = try await GateService.start(natsURL: system.server.url)
        defer { Task { await gate.stop() } }
        let client = system.client
        // The blocker runs until released, after the late job's 1 s deadline has passed while it
        // waited behind it, however slow a loaded box is.
        try await gate.hold(through: client)
        let late = try await client.post("/v1/jobs/\(gate.name)", "1501", headers: ["Prefer": "respond-async", "Baton-Deadline": "1"])
        let location = try #require(late.header("Location"))
        try await Task.sleep(for: .milliseconds(1500))
        gate.release()
        let result = try await client.get(location + "/result", headers: ["Prefer": "wait=20"])
        #expect(result.status == 504)
        #expect(try result.json()["type"] as? String == "/problems/job-expired")
        #expect(try await client.get(location).json()["state"] as? String == "expired")
        #expect(!gate.started.contains("1501"))
        #expect(try await client.post("/v1/jobs/echo", "x", headers: ["Baton-Deadline": "tomorrow"]).status == 400)
        #expect(try await client.post("/v1/jobs/echo", "x", headers: ["Baton-Deadline": "2000-01-01T00:00:00Z"]).status == 400)
        #expect(try await client.post("/v1/jobs/echo", "x", headers: ["Baton-Deadline": "0"]).status == 400)
    }

    // MARK: - Retries and dead letters

    @Test func retryableFailureIsRetriedThenSucceeds() async throws {
        let client = try await SharedSystem.get().client
        let response = try await client.post("/v1/jobs/flaky", #"{"failures": 2}"#, headers: ["Prefer": "wait=20"])
        #expect(response.status == 200)
        #expect(response.text == #"{"attempt":3}"#)
        let id = try #require(response.header("Baton-Job-Id"))
        #expect(try await client.get("/v1/jobs/\(id)").json()["attempts"] as? Int == 3)
    }

    @Test func retriesExhaustedGoToTheDeadLetterStream() async throws {
        let client = try await SharedSystem.get().client
        let submit = try await client.post("/v1/jobs/flaky", #"{"failures": 9}"#, headers: ["Prefer": "respond-async"])
        let location = try #require(submit.header("Location"))
        let id = try #require(submit.header("Baton-Job-Id"))
        let result = try await client.get(location + "/result", headers: ["Prefer": "wait=20"])
        #expect(result.status == 503)
        let status = try await client.get(location).json()
        #expect(status["state"] as? String == "failed")
        #expect(status["attempts"] as? Int == 3)
        try await waitUntil(timeout: .seconds(5)) {
            let page = try await client.get("/v1/dead-letters?limit=1000").json()
            return (page["deadLetters"] as? [[String: Any]])?.contains { $0["job"] as? String == id } == true
        }
        let page = try await client.get("/v1/dead-letters?limit=1000").json()
        let entry = (page["deadLetters"] as? [[String: Any]])?.first { $0["job"] as? String == id }
        #expect(entry?["kind"] as? String == "job")
        #expect(entry?["attempts"] as? Int == 3)
        #expect((entry?["error"] as? String)?.contains("planned failures") == true)
        #expect(try await client.get("/v1/dead-letters?limit=0").status == 400)

        // Replayed: a new job with the same input, linked to the dead one; once only.
        let sequence = try #require(entry?["sequence"] as? Int)
        let replay = try await client.post("/v1/dead-letters/\(sequence)/replay", "")
        #expect(replay.status == 202)
        let replayed = try #require(replay.header("Baton-Job-Id"))
        #expect(replayed != id)
        #expect(replay.header("Location") == "/v1/jobs/\(replayed)")
        #expect(try replay.json()["replayOf"] as? String == id)
        let again = try await client.post("/v1/dead-letters/\(sequence)/replay", "")
        #expect(again.status == 202)
        #expect(again.header("Baton-Job-Id") == replayed)
        #expect(again.header("Idempotent-Replayed") == "true")
        try await waitUntil(timeout: .seconds(10)) {
            (try await client.get("/v1/jobs/\(replayed)").json()["attempts"] as? Int ?? 0) >= 1  // it runs
        }
        let listed = try await client.get("/v1/dead-letters?limit=1000").json()
        let replayedEntry = (listed["deadLetters"] as? [[String: Any]])?.first { $0["sequence"] as? Int == sequence }
        #expect(replayedEntry?["replayedAs"] as? String == replayed)
        for (path, status) in [("abc", 400), ("0", 400), ("999999999999", 404)] {
            let response = try await client.post("/v1/dead-letters/\(path)/replay", "")
            #expect(response.status == status, "\(path)")
            #expect(response.header("Content-Type") == "application/problem+json", "\(path)")
        }
    }
}

/// A service of its own per test (durable unless asked), concurrency 1, that records which
/// inputs started and when a handler saw cancellation. The input is how long it runs, in ms.
final class GateService: Sendable {
    let name = "gate-\(UInt32.random(in: 0...UInt32.max))"
    private let state = Mutex<(started: [String], cancelled: [String: ContinuousClock.Instant])>(([], [:]))
    private let connection = Mutex<NATSConnection?>(nil)
    private let held = Mutex(true)

    var started: [String] { state.withLock { $0.started } }
    /// Ends the jobs whose input is `hold` (they run until this is called).
    func release() { held.withLock { $0 = false } }

    /// Takes the gate's one slot with a `hold` job (it runs until `release()`) and returns once
    /// it runs: jobs submitted after it wait in the queue, however slow the box.
    @discardableResult
    func hold(through client: HTTPClient) async throws -> HTTPClient.Response {
        let submit = try await client.post("/v1/jobs/\(name)", "hold", headers: ["Prefer": "respond-async"])
        try await waitUntil(timeout: .seconds(30)) { self.started.contains("hold") }
        return submit
    }
    func cancelledAt(_ input: String) -> ContinuousClock.Instant? { state.withLock { $0.cancelled[input] } }

    static func start(natsURL: String, lane: Lane = .durable, start: HandlerStart = .inNewTask) async throws -> GateService {
        let gate = GateService()
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [natsURL], name: gate.name), logger: quietLogger("test.gate"))
        gate.connection.withLock { $0 = connection }
        let service = ServiceDefinition(name: gate.name, lane: lane, start: start) { [gate] job, _ in
            let input = job.text
            gate.state.withLock { $0.started.append(input) }
            do {
                if input == "hold" {
                    while gate.held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                } else {
                    try await Task.sleep(for: .milliseconds(Int(input) ?? 0))
                }
            } catch {
                gate.state.withLock { $0.cancelled[input] = .now }
                throw error
            }
            return JobAnswer(status: 200, contentType: "text/plain", body: job.input)
        }
        var configuration = WorkerConfiguration(workerID: gate.name)
        configuration.concurrency = 1
        configuration.ackWait = .seconds(5)
        let worker = Worker(connection: connection, services: [service], configuration: configuration, logger: quietLogger("test.gate"))
        Task { try await worker.run() }
        let client = try await SharedSystem.get().client
        // Ready once a job of its own went through. A condition, not a bound on speed: three
        // gates starting together with the whole suite under four busy loops took over 10 s.
        let clock = ContinuousClock()
        let started = clock.now
        try await waitUntil(timeout: .seconds(40)) {
            (try? await client.post("/v1/jobs/\(gate.name)", "0").status) == 200
        }
        if clock.now - started > .seconds(5) { print("gate \(gate.name) took \(clock.now - started) to serve") }
        gate.state.withLock { $0.started.removeAll() }
        return gate
    }

    func stop() async {
        await connection.withLock { $0 }?.close()
    }
}
