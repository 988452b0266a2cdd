@testable import BatonNATS
import BatonTestSupport
import Logging
import NIOCore
import Synchronization
import Testing

/// `PriorityPuller` against a real nats-server (the bookkeeping alone: PriorityPullStateTests).
@Suite("Priority pulls on JetStream", .timeLimit(.minutes(1)))
struct PriorityPullerTests {
    /// A work-queue stream `<name>` with consumers `<name>-high|normal|low` on `<name>.<priority>`.
    private func makeStream(_ js: JetStream) async throws -> (name: String, puller: PriorityPuller) {
        let name = "PRIO\(UInt32.random(in: 0...UInt32.max))"
        var stream = StreamSpec(name: name, subjects: ["\(name).>"])
        stream.retention = .workQueue
        try await js.ensureStream(stream)
        let levels = ["high", "normal", "low"]
        for level in levels {
            try await js.ensureConsumer(ConsumerSpec(stream: name, durable: "\(name)-\(level)", filterSubject: "\(name).\(level)"))
        }
        return (name, PriorityPuller(jetStream: js, stream: name, consumers: levels.map { "\(name)-\($0)" }))
    }

    /// Waits until an idle puller has a long poll open on each priority of `makeStream`'s stream
    /// (the server counts them as waiting pull requests).
    private func waitForLongPolls(_ js: JetStream, _ name: String) async throws {
        try await waitUntil(timeout: .seconds(10), every: .milliseconds(20)) {
            for level in ["high", "normal", "low"] {
                guard try await js.consumerInfo(stream: name, consumer: "\(name)-\(level)")?.numWaiting ?? 0 > 0 else { return false }
            }
            return true
        }
    }

    private struct Log {
        var takes: [String] = []
        var running = 0
        var peak = 0
    }

    private final class TakeLog: Sendable {
        private let mutex = Mutex(Log())
        func withLock<T: Sendable>(_ body: (inout Log) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    /// Runs `puller` recording each take's last subject token; each handler sleeps `work`.
    private func start(_ puller: PriorityPuller, maxInFlight: Int, work: Duration, log: TakeLog) -> Task<Void, Error> {
        Task {
            try await puller.run(maxInFlight: maxInFlight, logger: Logger(label: "prio")) { message in
                log.withLock {
                    $0.takes.append(String(message.subject.split(separator: ".").last!))
                    $0.running += 1
                    $0.peak = max($0.peak, $0.running)
                }
                try? await Task.sleep(for: work)
                log.withLock { $0.running -= 1 }
                try? message.ack()
            }
        }
    }

    private func waitFor(_ log: TakeLog, seconds: Int = 10, _ condition: (Log) -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(seconds))
        while !log.withLock({ condition($0) }), clock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A draining worker's open long polls still deliver; it hands those messages back delayed
    /// past the polls' expiry. Handed back at once, each went into the same polls again and
    /// again (a delivery counted each time): jobs reached the next worker looking as if they had
    /// crashed five workers, and were dead-lettered without running.
    @Test func aDrainingWorkerHandsBackEachJobOnce() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let (name, puller) = try await makeStream(js)
        let draining = Atomic(false)
        let stopping = Task {
            try await puller.run(maxInFlight: 400, logger: Logger(label: "prio"), draining: { draining.load(ordering: .relaxed) }) { message in
                try? message.ack()  // not reached: it drains before any job comes
            }
        }
        try await waitForLongPolls(js, name)
        draining.store(true, ordering: .relaxed)
        for i in 0..<20 { try await js.publish(ByteBuffer("job \(i)"), to: "\(name).normal") }

        let deliveries = Mutex<[Int]>([])
        let next = Task {
            try await puller.run(maxInFlight: 8, logger: Logger(label: "prio")) { message in
                deliveries.withLock { $0.append(message.deliveryCount) }
                try? message.ack()
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(20))
        while deliveries.withLock({ $0.count }) < 20, clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }  // ~7 s
        next.cancel()
        stopping.cancel()
        let counts = deliveries.withLock { $0 }
        #expect(counts.count == 20)
        #expect(counts.allSatisfy { $0 <= 2 }, "delivery counts: \(counts)")
    }

    @Test func aHighJobOvertakesALowBacklogWithinTwoTakes() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let (name, puller) = try await makeStream(js)
        for i in 0..<30 { try await js.publish(ByteBuffer("low \(i)"), to: "\(name).low") }

        let log = TakeLog()
        let run = start(puller, maxInFlight: 1, work: .milliseconds(20), log: log)
        try await waitFor(log) { $0.takes.count >= 5 }
        let before = log.withLock { $0.takes.count }
        try await js.publish(ByteBuffer("high"), to: "\(name).high")
        try await waitFor(log) { $0.takes.contains("high") }
        run.cancel()
        _ = await run.result

        let final = log.withLock { $0 }
        let index = try #require(final.takes.firstIndex(of: "high"))
        #expect(index <= before + 1, "high was take \(index - before + 1) after its publish: \(final.takes)")
        #expect(final.peak == 1)
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func lowStillProgressesWhileHighKeepsComing() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let (name, puller) = try await makeStream(js)
        for i in 0..<40 { try await js.publish(ByteBuffer("high \(i)"), to: "\(name).high") }
        for i in 0..<20 { try await js.publish(ByteBuffer("low \(i)"), to: "\(name).low") }

        let log = TakeLog()
        let run = start(puller, maxInFlight: 1, work: .milliseconds(5), log: log)
        let feeder = Task {  // keeps high backlogged
            while !Task.isCancelled {
                try await js.publish(ByteBuffer("more high"), to: "\(name).high")
                try await Task.sleep(for: .milliseconds(3))
            }
        }
        try await waitFor(log, seconds: 30) { $0.takes.count >= 24 }  // ~0.2 s on a quiet machine
        feeder.cancel()
        run.cancel()
        _ = await run.result
        _ = await feeder.result

        let first = log.withLock { Array($0.takes.prefix(24)) }
        #expect(first.count == 24)
        #expect(first.filter { $0 == "low" }.count >= 5, "\(first)")
        #expect(first.filter { $0 == "high" }.count >= 17, "\(first)")
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func anIdleWorkerStartsAJobOfAnyPriorityAtOnce() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        var (name, puller) = try await makeStream(js)
        // Long polls of 30 s: without a poll on its priority a job would wait that long, so a
        // bound of 10 s tells the two apart even on a loaded CI box (with 5 s and 2 s it once
        // took 2.5 s there).
        puller.waitExpiry = .seconds(30)
        let log = TakeLog()
        let run = start(puller, maxInFlight: 4, work: .milliseconds(1), log: log)
        let clock = ContinuousClock()
        for (i, level) in ["low", "high", "normal", "low"].enumerated() {
            try await waitForLongPolls(js, name)  // scans done, idle again
            let sent = clock.now
            try await js.publish(ByteBuffer(level), to: "\(name).\(level)")
            try await waitFor(log) { $0.takes.count > i }
            #expect(clock.now - sent < .seconds(10), "\(level) waited \(clock.now - sent)")
        }
        run.cancel()
        _ = await run.result
        #expect(log.withLock { $0.takes } == ["low", "high", "normal", "low"])
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func boundedConcurrencyAcrossPriorities() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let (name, puller) = try await makeStream(js)
        for i in 0..<60 { try await js.publish(ByteBuffer("\(i)"), to: "\(name).\(["high", "normal", "low"][i % 3])") }
        let log = TakeLog()
        let run = start(puller, maxInFlight: 3, work: .milliseconds(5), log: log)
        let clock = ContinuousClock()
        let started = clock.now
        try await waitFor(log, seconds: 40) { $0.takes.count >= 60 && $0.running == 0 }
        let took = clock.now - started
        run.cancel()
        _ = await run.result
        let final = log.withLock { $0 }
        #expect(final.takes.count == 60, "\(final.takes.count) taken in \(took): \(final.takes)")
        #expect(final.peak <= 3 && final.peak >= 2)
        // Priority order holds while everything is backlogged (anti-starvation aside).
        #expect(final.takes.prefix(12).filter { $0 == "high" }.count >= 6, "\(final.takes)")
        // Acks are plain publishes the server applies on its own time: give it a moment.
        var left = try await js.streamMessageCount(name)
        for _ in 0..<40 where left != 0 {
            try await Task.sleep(for: .milliseconds(50))
            left = try await js.streamMessageCount(name)
        }
        #expect(left == 0)
        try await js.deleteStream(name)
        await nats.close()
    }

    @Test func deleteConsumerOnlyWithTheExpectedFilterAndIdempotently() async throws {
        let nats = try await connectToTestServer()
        let js = try JetStream(nats)
        let name = try await makeWorkQueue(js, prefix: "LEG")
        try await js.ensureConsumer(ConsumerSpec(stream: name, durable: "old", filterSubject: "\(name).svc.>"))
        #expect(try await js.deleteConsumer(stream: name, name: "old", ifFilterSubject: "\(name).other.>") == false)
        // Still there: a per-priority consumer would overlap it on a work queue.
        await #expect(throws: NATSError.self) {
            try await js.ensureConsumer(ConsumerSpec(stream: name, durable: "old-high", filterSubject: "\(name).svc.high"))
        }
        #expect(try await js.deleteConsumer(stream: name, name: "old", ifFilterSubject: "\(name).svc.>"))
        #expect(try await js.deleteConsumer(stream: name, name: "old", ifFilterSubject: "\(name).svc.>") == false)
        #expect(try await js.deleteConsumer(stream: name, name: "old") == false)
        for level in ["high", "normal", "low"] {
            try await js.ensureConsumer(ConsumerSpec(stream: name, durable: "old-\(level)", filterSubject: "\(name).svc.\(level)"))
        }
        try await js.deleteStream(name)
        #expect(try await js.deleteConsumer(stream: name, name: "old", ifFilterSubject: "\(name).svc.>") == false)
        await nats.close()
    }
}
