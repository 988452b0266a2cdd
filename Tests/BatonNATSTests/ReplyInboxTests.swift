@testable import BatonNATS
import NIOCore
import Synchronization
import Testing

/// The reply inbox without a server: replies, timeouts (swept by tick), interruptions.
@Suite("reply inbox", .timeLimit(.minutes(1)))
struct ReplyInboxTests {
    let inbox = ReplyInbox(prefix: "_INBOX.test.")

    func reply(to subject: String, _ text: String = "answer") -> NATSMessage {
        NATSMessage(subject: subject, replyTo: nil, headers: [:], payload: ByteBuffer(string: text))
    }

    @Test func replyBeforeAndAfterTheWait() async {
        let early = inbox.register()
        inbox.deliver(reply(to: early, "early"))
        #expect(await inbox.wait(for: early, timeout: .seconds(5))?.payload == ByteBuffer(string: "early"))

        let late = inbox.register()
        async let waited = inbox.wait(for: late, timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(50))
        inbox.deliver(reply(to: late, "late"))
        #expect(await waited?.payload == ByteBuffer(string: "late"))
    }

    /// Many waits with different deadlines: none ends before its own (upper bounds are loose: a
    /// busy machine delays the sweeper), and a reply to one of them still arrives.
    @Test func waitsEndAtTheirOwnDeadlines() async {
        let clock = ContinuousClock()
        let start = clock.now
        let answered = inbox.register()
        let ends = await withTaskGroup(of: (Int, Duration, Bool).self) { group in
            for i in 0..<300 {
                let subject = i == 0 ? answered : inbox.register()
                group.addTask {
                    let message = await inbox.wait(for: subject, timeout: .milliseconds(100 + (i % 3) * 200))
                    return (i, clock.now - start, message != nil)
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(30))
                inbox.deliver(reply(to: answered))
                return (-1, .zero, false)
            }
            var ends: [Int: (Duration, Bool)] = [:]
            for await (i, elapsed, gotReply) in group where i >= 0 { ends[i] = (elapsed, gotReply) }
            return ends
        }
        #expect(ends[0]?.1 == true)
        for i in 1..<300 {
            let deadline = Duration.milliseconds(100 + (i % 3) * 200)
            #expect(ends[i]?.1 == false)
            #expect(ends[i]!.0 >= deadline, "wait \(i) ended early")
            #expect(ends[i]!.0 < deadline + .seconds(3), "wait \(i) ended late")
        }
    }

    /// Two replies, one wait (`watch`): the acknowledgement that says "stored" wakes no one and
    /// is taken after the answer; one that says "failed" ends the answer's wait, whether it
    /// comes during the wait or before it starts.
    @Test func aWatchedFailureEndsTheOtherWait() async {
        let isFailure: @Sendable (NATSMessage) -> Bool = { String(buffer: $0.payload).hasPrefix("fail") }
        let clock = ContinuousClock()

        // Stored, then answered: the answer's wait ends by the answer.
        let (answer, ack) = (inbox.register(), inbox.register())
        inbox.watch(ack, failureEnds: answer, within: .seconds(30), isFailure: isFailure)
        async let answered = inbox.wait(for: answer, timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(50))
        inbox.deliver(reply(to: ack, "stored"))
        try? await Task.sleep(for: .milliseconds(50))
        inbox.deliver(reply(to: answer, "answer"))
        #expect(await answered?.payload == ByteBuffer(string: "answer"))
        #expect(await inbox.wait(for: ack, timeout: .zero)?.payload == ByteBuffer(string: "stored"))
        #expect(await inbox.wait(for: ack, timeout: .zero) == nil, "taken once")

        // Failed during the wait: the wait ends at once, with nil; the failure is there to take.
        let (answer2, ack2) = (inbox.register(), inbox.register())
        inbox.watch(ack2, failureEnds: answer2, within: .seconds(30), isFailure: isFailure)
        let start = clock.now
        async let ended = inbox.wait(for: answer2, timeout: .seconds(20))
        try? await Task.sleep(for: .milliseconds(50))
        inbox.deliver(reply(to: ack2, "failed"))
        #expect(await ended == nil)
        #expect(clock.now - start < .seconds(10))
        #expect(await inbox.wait(for: ack2, timeout: .zero)?.payload == ByteBuffer(string: "failed"))

        // Failed before the wait starts (and before the watch): the wait ends at once.
        let (answer3, ack3) = (inbox.register(), inbox.register())
        inbox.deliver(reply(to: ack3, "failed"))
        inbox.watch(ack3, failureEnds: answer3, within: .seconds(30), isFailure: isFailure)
        let start3 = clock.now
        #expect(await inbox.wait(for: answer3, timeout: .seconds(20)) == nil)
        #expect(clock.now - start3 < .seconds(10))

        // Failed after the watch, before the wait.
        let (answer4, ack4) = (inbox.register(), inbox.register())
        inbox.watch(ack4, failureEnds: answer4, within: .seconds(30), isFailure: isFailure)
        inbox.deliver(reply(to: ack4, "failed"))
        let start4 = clock.now
        #expect(await inbox.wait(for: answer4, timeout: .seconds(20)) == nil)
        #expect(clock.now - start4 < .seconds(10))

        // No reply within the watch's timeout: the other wait ends then.
        let (answer6, ack6) = (inbox.register(), inbox.register())
        inbox.watch(ack6, failureEnds: answer6, within: .milliseconds(300), isFailure: isFailure)
        let start6 = clock.now
        #expect(await inbox.wait(for: answer6, timeout: .seconds(20)) == nil)
        #expect(clock.now - start6 >= .milliseconds(300))
        #expect(clock.now - start6 < .seconds(10))

        // A reply in time: the watch's timeout ends nothing.
        let (answer7, ack7) = (inbox.register(), inbox.register())
        inbox.watch(ack7, failureEnds: answer7, within: .milliseconds(100), isFailure: isFailure)
        inbox.deliver(reply(to: ack7, "stored"))
        async let answered7 = inbox.wait(for: answer7, timeout: .seconds(20))
        try? await Task.sleep(for: .milliseconds(400))
        inbox.deliver(reply(to: answer7, "answer"))
        #expect(await answered7?.payload == ByteBuffer(string: "answer"))

        // Without a watch, a failure is only the acknowledgement's: the other wait runs on.
        let (answer5, ack5) = (inbox.register(), inbox.register())
        inbox.deliver(reply(to: ack5, "failed"))
        #expect(await inbox.wait(for: answer5, timeout: .milliseconds(200)) == nil)
        #expect(clock.now - start4 >= .milliseconds(200))
    }

    /// A watched acknowledgement that came in time is kept past its watch's deadline and past
    /// the orphan scans, for the `202` that reads it once the client's wait is over: a client
    /// that waited longer than the acknowledgement's timeout plus a scan got a 503 for a job
    /// that ran. A subject nobody waits on and nobody watches is still forgotten.
    @Test func aWatchedReplyOutlivesItsDeadlineAndTheOrphanScans() async {
        let inbox = ReplyInbox(prefix: "_INBOX.scan.", orphanScanInterval: .milliseconds(40))
        let isFailure: @Sendable (NATSMessage) -> Bool = { String(buffer: $0.payload).hasPrefix("fail") }
        let (answer, ack) = (inbox.register(), inbox.register())
        inbox.watch(ack, failureEnds: answer, within: .milliseconds(100), isFailure: isFailure)
        inbox.deliver(reply(to: ack, "stored"))
        // The client's wait: longer than the watch's deadline, the sweeper scanning all along.
        #expect(await inbox.wait(for: answer, timeout: .milliseconds(500), keep: true) == nil)
        #expect(await inbox.wait(for: ack, timeout: .zero)?.payload == ByteBuffer(string: "stored"))

        // A watch whose acknowledgement never came ends the wait at its deadline, scans or not.
        let (answer2, ack2) = (inbox.register(), inbox.register())
        inbox.watch(ack2, failureEnds: answer2, within: .milliseconds(100), isFailure: isFailure)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await inbox.wait(for: answer2, timeout: .seconds(20)) == nil)
        #expect(clock.now - start < .seconds(10))
    }

    /// A call's wait may outlast the orphan timeout (`--max-wait` above ten minutes): the job's
    /// acknowledgement, arrived at its start, is still there for the `202` when it ends.
    @Test func aWatchedReplyOutlivesTheOrphanTimeoutWhileItsWaitRuns() async {
        let inbox = ReplyInbox(prefix: "_INBOX.long.", orphanTimeout: .milliseconds(500), orphanScanInterval: .milliseconds(40))
        let isFailure: @Sendable (NATSMessage) -> Bool = { String(buffer: $0.payload).hasPrefix("fail") }
        let (answer, ack) = (inbox.register(), inbox.register())
        inbox.watch(ack, failureEnds: answer, within: .milliseconds(50), isFailure: isFailure)
        inbox.deliver(reply(to: ack, "stored"))
        #expect(await inbox.wait(for: answer, timeout: .milliseconds(1_500)) == nil)
        #expect(await inbox.wait(for: ack, timeout: .zero)?.payload == ByteBuffer(string: "stored"))

        // Once its wait is over, one nobody takes is forgotten like any other, an orphan
        // timeout later.
        let (answer2, ack2) = (inbox.register(), inbox.register())
        inbox.watch(ack2, failureEnds: answer2, within: .milliseconds(50), isFailure: isFailure)
        inbox.deliver(reply(to: ack2, "stored"))
        #expect(await inbox.wait(for: answer2, timeout: .milliseconds(20)) == nil)
        let keepScanning = Task { await inbox.wait(for: inbox.register(), timeout: .seconds(3)) }
        try? await Task.sleep(for: .milliseconds(2_500))
        #expect(await inbox.wait(for: ack2, timeout: .zero) == nil)
        _ = await keepScanning.value
    }

    @Test func discardAndCancellationEndTheWait() async {
        let subject = inbox.register()
        let waiting = Task { await inbox.wait(for: subject, timeout: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(30))
        inbox.discard(subject)
        #expect(await waiting.value == nil)

        let cancelled = Task { [inbox] in
            let subject = inbox.register()
            return await inbox.wait(for: subject, timeout: .seconds(30))
        }
        try? await Task.sleep(for: .milliseconds(30))
        cancelled.cancel()
        #expect(await cancelled.value == nil)
    }

    @Test func interruptEndsInterruptibleWaitsOnly() async {
        let clock = ContinuousClock()
        let client = inbox.register()
        let other = inbox.register()
        async let clientWait = inbox.wait(for: client, timeout: .seconds(30), interruptible: true)
        async let otherWait = inbox.wait(for: other, timeout: .seconds(30))  // long: a loaded box must not time it out
        try? await Task.sleep(for: .milliseconds(30))
        let interruptedAt = clock.now
        inbox.interrupt()
        #expect(await clientWait == nil)
        #expect(clock.now - interruptedAt < .seconds(5))
        inbox.deliver(reply(to: other))
        #expect(await otherWait != nil)
        // From now on an interruptible wait ends at once.
        #expect(await inbox.wait(for: inbox.register(), timeout: .seconds(30), interruptible: true) == nil)
    }

    /// A kept subject outlives a wait that ends without a reply (timeout, interruption,
    /// cancellation): the reply that comes later reaches the next wait. A fast-lane call waits
    /// once for the client and, only if it switches to `202`, once more for the rest.
    @Test func aKeptSubjectOutlivesItsWait() async {
        let subject = inbox.register()
        #expect(await inbox.wait(for: subject, timeout: .milliseconds(40), keep: true) == nil)
        inbox.deliver(reply(to: subject, "after the timeout"))
        #expect(await inbox.wait(for: subject, timeout: .seconds(5))?.payload == ByteBuffer(string: "after the timeout"))
        // The second wait did not keep it: the subject is gone.
        #expect(await inbox.wait(for: subject, timeout: .seconds(5)) == nil)

        let cancelledSubject = inbox.register()
        let cancelled = Task { [inbox] in await inbox.wait(for: cancelledSubject, timeout: .seconds(30), keep: true) }
        try? await Task.sleep(for: .milliseconds(30))
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        async let next = inbox.wait(for: cancelledSubject, timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(30))
        inbox.deliver(reply(to: cancelledSubject, "after the cancel"))
        #expect(await next?.payload == ByteBuffer(string: "after the cancel"))
    }

    @Test func aKeptSubjectOutlivesAnInterruption() async {
        let subject = inbox.register()
        async let clientWait = inbox.wait(for: subject, timeout: .seconds(30), interruptible: true, keep: true)
        try? await Task.sleep(for: .milliseconds(30))
        inbox.interrupt()
        #expect(await clientWait == nil)
        // Interrupted from now on: the client's wait ends at once and still keeps the subject.
        #expect(await inbox.wait(for: subject, timeout: .seconds(30), interruptible: true, keep: true) == nil)
        inbox.deliver(reply(to: subject))
        #expect(await inbox.wait(for: subject, timeout: .seconds(5)) != nil)
    }

    /// The sweeper stops when nothing waits and starts again with the next wait.
    /// `onReply`: a function takes the reply where it lands, exactly once — the reply that came
    /// before, the one that comes after (a second is dropped), or nil for a timeout, a discard
    /// or the inbox's close; and a task cannot also wait on that subject.
    @Test func aCallbackTakesTheReplyWhereItLands() async {
        let calls = Mutex<[String: [String?]]>([:])
        func record(_ name: String) -> @Sendable (NATSMessage?) -> Void {
            { message in calls.withLock { $0[name, default: []].append(message.map { String(buffer: $0.payload) }) } }
        }
        func called(_ name: String) -> [String?]? { calls.withLock { $0[name] } }

        let early = inbox.register()
        inbox.deliver(reply(to: early, "early"))
        inbox.onReply(early, within: .seconds(5), record("early"))
        #expect(called("early") == ["early"], "a reply that came first is handed over at once")

        let late = inbox.register()
        inbox.onReply(late, within: .seconds(5), record("late"))
        #expect(called("late") == nil)
        #expect(await inbox.wait(for: late, timeout: .seconds(5)) == nil, "a subject with a callback has its waiter")
        inbox.deliver(reply(to: late, "late"))
        inbox.deliver(reply(to: late, "again"))
        #expect(called("late") == ["late"], "the first reply counts, once, on the delivering thread")

        let discarded = inbox.register()
        inbox.onReply(discarded, within: .seconds(5), record("discarded"))
        inbox.discard(discarded)
        inbox.deliver(reply(to: discarded, "too late"))
        #expect(called("discarded") == [nil])

        let clock = ContinuousClock()
        let start = clock.now
        let timedOut = inbox.register()
        let ended: NATSMessage? = await withCheckedContinuation { continuation in
            inbox.onReply(timedOut, within: .milliseconds(60)) { continuation.resume(returning: $0) }
        }
        #expect(ended == nil)
        #expect(clock.now - start >= .milliseconds(60))
        inbox.deliver(reply(to: timedOut, "too late"))  // forgotten: nothing to call

        inbox.onReply(inbox.register(), within: .seconds(30), record("open"))
        inbox.onReply("_INBOX.test.unknown", within: .seconds(30), record("unknown"))
        #expect(called("unknown") == [nil])
        inbox.cancelAll()
        #expect(called("open") == [nil])
        inbox.onReply(inbox.register(), within: .seconds(30), record("closed"))
        #expect(called("closed") == [nil], "a closed inbox ends a new callback at once")
    }

    @Test func sweeperRestartsAfterIdle() async {
        #expect(await inbox.wait(for: inbox.register(), timeout: .milliseconds(40)) == nil)
        try? await Task.sleep(for: .milliseconds(200))
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await inbox.wait(for: inbox.register(), timeout: .milliseconds(60)) == nil)
        #expect(clock.now - start >= .milliseconds(60))
        #expect(clock.now - start < .seconds(10))  // without a sweeper it never ends
    }
}
