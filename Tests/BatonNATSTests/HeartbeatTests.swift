import BatonNATS
import BatonTestSupport
import Logging
import NIOCore
import Synchronization
import Testing

/// `JetStreamMessage.keepingInProgress` against a real server: its heartbeat keeps a message
/// past the consumer's ack wait, and the action that shares its timer (a job's deferred running
/// mark) runs once at its time — whether it comes before the first beat or after it — and not
/// at all when the work ends first.
@Suite("heartbeat", .timeLimit(.minutes(1)))
struct HeartbeatTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let interval: Duration
        let actionAfter: Duration
        let work: Duration
        var testDescription: String { "beat \(interval), action after \(actionAfter), work \(work)" }
        var actionRuns: Bool { actionAfter < work }
    }

    /// The consumer's ack wait: the work outlasts it (twice, where the action must run), and a
    /// heartbeat late by less than it still keeps the message (the whole suite loads two
    /// cores: with an ack wait of 1 s, a stall of the shared server got a message redelivered).
    static let ackWait = Duration.seconds(5)

    @Test(arguments: [
        Case(interval: .milliseconds(500), actionAfter: .milliseconds(250), work: .seconds(11)),  // before the first beat
        Case(interval: .milliseconds(400), actionAfter: .milliseconds(1000), work: .seconds(11)),  // between beats
        Case(interval: .milliseconds(500), actionAfter: .seconds(30), work: .seconds(6)),  // the work ends first
    ])
    func keepsTheMessageAndRunsTheActionOnceAtItsTime(_ test: Case) async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = try await makeWorkQueue(js, prefix: "HB")
        var consumer = ConsumerSpec(stream: name, durable: "w", filterSubject: "\(name).jobs")
        consumer.ackWait = Self.ackWait
        try await js.ensureConsumer(consumer)
        try await js.publish(ByteBuffer("job"), to: "\(name).jobs", messageID: "j1")

        let wheel = TimerWheel(resolution: .milliseconds(10))
        let clock = ContinuousClock()
        let deliveries = Atomic(0)
        let actionTimes = Mutex<[Duration]>([])
        let acked = Atomic(false)
        let run = Task {
            try await PriorityPuller(jetStream: js, stream: name, consumers: ["w"]).run(maxInFlight: 2, logger: Logger(label: "hb")) { message in
                guard deliveries.add(1, ordering: .relaxed).newValue == 1 else { return }
                let start = clock.now
                let action = { @Sendable in actionTimes.withLock { $0.append(clock.now - start) } }
                await message.keepingInProgress(every: test.interval, on: wheel, also: (after: test.actionAfter, action: action)) {
                    try? await Task.sleep(for: test.work)
                }
                try? message.ack()
                acked.store(true, ordering: .relaxed)
            }
        }
        try await waitUntil(timeout: .seconds(40)) { acked.load(ordering: .relaxed) }
        // Past the work by more than the action's delay and an ack wait: a late action or a
        // redelivery would show by now.
        try await Task.sleep(for: .milliseconds(1200))
        run.cancel()
        _ = await run.result

        #expect(deliveries.load(ordering: .relaxed) == 1, "redelivered while heartbeating past the ack wait")
        let times = actionTimes.withLock { $0 }
        if test.actionRuns {
            #expect(times.count == 1, "the action ran \(times.count) times")
            #expect(times.allSatisfy { $0 >= test.actionAfter }, "the action ran early: \(times)")
        } else {
            #expect(times.isEmpty, "the action ran after the work ended: \(times)")
        }
        try await js.deleteStream(name)
        await nats.close()
    }
}
