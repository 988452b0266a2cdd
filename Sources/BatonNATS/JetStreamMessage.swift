import NIOCore
import Synchronization

/// A message delivered by a JetStream consumer, with its delivery metadata and acks.
public struct JetStreamMessage: Sendable {
    public var message: NATSMessage
    /// How many times this message has been delivered (1 on first delivery).
    public var deliveryCount: Int
    public var streamSequence: UInt64
    /// Messages left in the consumer after this one.
    public var pending: UInt64
    private let connection: NATSConnection

    init?(_ message: NATSMessage, connection: NATSConnection) {
        guard let reply = message.replyTo, let ack = AckSubject(reply) else { return nil }
        self.init(message, ack: ack, connection: connection)
    }

    init(_ message: NATSMessage, ack: AckSubject, connection: NATSConnection) {
        self.message = message
        self.deliveryCount = ack.delivered
        self.streamSequence = ack.streamSequence
        self.pending = ack.pending
        self.connection = connection
    }

    public var headers: NATSHeaders { message.headers }
    public var payload: ByteBuffer { message.payload }
    public var subject: String { message.subject }

    /// Done: the stream may forget the message (a work queue deletes it).
    public func ack() throws { try reply(Self.ackBody) }

    /// Shared (a `ByteBuffer` is copied on write only): one allocation less per job.
    private static let ackBody = ByteBuffer(string: "+ACK")
    private static let inProgressBody = ByteBuffer(string: "+WPI")

    /// Failed: redeliver, after `delay` if given.
    public func nak(delay: Duration? = nil) throws {
        if let delay {
            try reply("-NAK {\"delay\":\(delay.nanoseconds)}")
        } else {
            try reply("-NAK")
        }
    }

    /// Still working: restart the ack-wait timer so the message is not redelivered.
    public func inProgress() throws { try reply(Self.inProgressBody) }

    /// Never redeliver this message.
    public func terminate() throws { try reply("+TERM") }

    private func reply(_ body: String) throws { try reply(ByteBuffer(string: body)) }

    private func reply(_ body: ByteBuffer) throws {
        guard let replyTo = message.replyTo else { return }
        try connection.publish(body, to: replyTo)
    }
}

extension JetStreamMessage {
    /// Runs `body` while telling the server every `interval` that the message is still being
    /// worked on (`+WPI`), so it is not redelivered while this process is alive; a process that
    /// dies stops the heartbeat and the message is redelivered after the ack wait. The
    /// heartbeat is a timer on `wheel`, not a task of its own: `body` runs in the caller's task.
    ///
    /// `also`, when given, runs once `also.after` into the run, on the heartbeat's timer (a
    /// job's deferred running mark: one timer per job, not two), unless `body` is done first.
    public func keepingInProgress<T: Sendable>(
        every interval: Duration, on wheel: TimerWheel = .shared, also: (after: Duration, action: @Sendable () -> Void)? = nil,
        _ body: () async -> T
    ) async -> T {
        let heartbeat = Heartbeat(self, every: interval, on: wheel, also: also)
        defer { heartbeat.stop() }
        return await body()
    }
}

/// A message's `+WPI` every `interval` until stopped, and an action once: one timer at a time,
/// each firing arming the next.
private final class Heartbeat: Sendable {
    private let message: JetStreamMessage
    private let interval: Duration
    private let wheel: TimerWheel
    private let timer: Mutex<TimerWheel.Timer?> = Mutex(nil)
    private let stopped = Atomic<Bool>(false)

    init(_ message: JetStreamMessage, every interval: Duration, on wheel: TimerWheel, also: (after: Duration, action: @Sendable () -> Void)?) {
        self.message = message
        self.interval = interval
        self.wheel = wheel
        let start = ContinuousClock.now
        arm(beat: start.advanced(by: interval), also: also.map { (start.advanced(by: $0.after), $0.action) })
    }

    /// Arms the timer for the next beat or `also`, whichever comes first.
    private func arm(beat: ContinuousClock.Instant, also: (at: ContinuousClock.Instant, action: @Sendable () -> Void)?) {
        let due = min(beat, also?.at ?? beat)
        let next = wheel.schedule(at: due) { [self] in
            guard !stopped.load(ordering: .acquiring) else { return }
            var (beat, also) = (beat, also)
            if let pending = also, pending.at <= due {
                pending.action()
                also = nil
            }
            if beat <= due {
                try? message.inProgress()
                beat = beat.advanced(by: interval)
            }
            arm(beat: beat, also: also)
        }
        timer.withLock { $0 = next }
        // Stopped while arming: the new timer must not outlive the stop.
        if stopped.load(ordering: .acquiring) { next.cancel() }
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        timer.withLock { if let timer = $0 { timer.cancel() } }
    }
}

extension JetStreamMessage {
    /// Runs `work` until it succeeds, keeping the message in progress (`+WPI`) between tries:
    /// for work whose effect has happened (a job's answer is known, a webhook was delivered) and
    /// only needs recording, which NATS may refuse for a few seconds while a stream elects a
    /// leader. Handing the message back instead would redo the effect. Pauses 200 ms, doubling up
    /// to 2 s and at most `maxPause` (keep it under the ack wait); past `limit`, or when the task
    /// is cancelled, the last error is thrown. `onFirstFailure` sees the first error (to log it
    /// once). Returns the value and how many tries it took.
    public func retryingInProgress<T>(
        for limit: Duration, maxPause: Duration, onFirstFailure: (any Error) -> Void = { _ in },
        _ work: () async throws -> T
    ) async throws -> (value: T, tries: Int) {
        let giveUpAt = ContinuousClock.now.advanced(by: limit)
        var pause = Duration.milliseconds(200)
        var tries = 0
        while true {
            tries += 1
            do {
                return (try await work(), tries)
            } catch {
                guard ContinuousClock.now < giveUpAt, !Task.isCancelled else { throw error }
                if tries == 1 { onFirstFailure(error) }
                try? inProgress()
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2), maxPause)
            }
        }
    }
}
