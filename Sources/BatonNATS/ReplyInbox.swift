import Synchronization

/// Routes replies that arrive on the connection's wildcard inbox (`_INBOX.<nuid>.*`) to the
/// tasks awaiting them, so a request never parks a thread.
///
/// Each reply subject is a small promise with three states: registered (nobody waits yet),
/// arrived (the reply came before anyone waited) and waiting (a continuation is parked). The
/// reply, a timeout and a cancellation race; whichever removes the entry under the lock wins,
/// and continuations are resumed after the lock is released.
///
/// Timeouts are swept by one task every `sweepInterval` rather than armed per request: arming a
/// timer on an event loop from another thread costs a wake-up (eventfd write) per request, which
/// profiles showed as a large share of a round trip. Timeouts are therefore coarse (±20 ms).
/// A sweep looks only at the waits whose deadline fell in the ticks since the last one (`due`,
/// a timing wheel, `TickBuckets`), not at every slot: with 10,000 calls held, scanning them all every 20 ms
/// took ~15% of the gateway's CPU.
final class ReplyInbox: Sendable {
    let prefix: String
    private let state: Mutex<State>
    static let sweepInterval: Duration = .milliseconds(20)
    /// A registered subject nobody waits on, or a reply nobody took, is forgotten after this
    /// long (10 minutes unless a test says otherwise) — except a watched reply whose linked
    /// wait still runs (`watch`): that one is read when the wait ends, however long it is.
    let orphanTimeout: Duration
    /// How often a running sweeper also looks for such subjects (a scan of every slot).
    let orphanScanInterval: Duration

    private struct State {
        /// Written with `updateValue` and `removeValue`, not through the subscript: a subscript
        /// assignment goes through the dictionary's `modify` coroutine, whose frame for a value
        /// this size was a heap allocation each time (~5 a reply, heaptrack).
        var slots: [String: Slot] = [:]
        /// The tokens of waits by the tick their deadline falls in. An entry whose wait ended
        /// otherwise is skipped when its tick comes.
        var due = TickBuckets<String>(resolution: ReplyInbox.sweepInterval)
        let orphanTimeout: Duration
        var lastOrphanScan = ContinuousClock.now
        var counter: UInt64 = 0
        var sweeping = false
        var closed = false
        /// `interrupt()` was called: interruptible waits end at once.
        var interrupted = false

        /// Something was added to `due`: true when no sweeper runs, and the caller starts it.
        mutating func claimSweeper() -> Bool {
            defer { sweeping = true }
            return !sweeping
        }

        /// A linked reply failed (`ReplyInbox.watch`): the wait on `token` ends, or one that
        /// starts later ends at once. Returns the continuation to resume with nil.
        mutating func endLinked(_ token: String) -> CheckedContinuation<NATSMessage?, Never>? {
            guard let slot = slots[token] else { return nil }
            switch slot.phase {
            case .waiting(let continuation):
                slots.removeValue(forKey: token)
                return continuation
            case .registered:
                slots.removeValue(forKey: token)  // a wait on an unknown subject ends at once
                return nil
            case .arrived:
                return nil  // the answer came after all: it counts
            case .callback:
                return nil  // not linked to a failure (`watch` links waits)
            }
        }

        /// A wait on `token` ended without a reply: its subject stays registered if it keeps.
        mutating func keepOrForget(_ token: String, _ slot: Slot, now: ContinuousClock.Instant) {
            if slot.keep {
                slots.updateValue(.kept(until: now.advanced(by: orphanTimeout)), forKey: token)
            } else {
                slots.removeValue(forKey: token)
            }
        }
    }

    private struct Slot {
        var phase: Phase
        var deadline: ContinuousClock.Instant
        var interruptible = false
        /// A wait that ends by its timeout or an interruption leaves the subject registered (a
        /// later reply is kept for the next wait) instead of forgetting it.
        var keep = false
        /// A reply here for which `failure.isFailure` holds ends the wait on `failure.ends` (a
        /// token) too, or the wait that starts on it later; so does no reply by `deadline`
        /// (`watch`).
        var failure: Failure?

        struct Failure {
            let ends: String
            let isFailure: @Sendable (NATSMessage) -> Bool
        }

        /// What is left of a kept subject when its wait ends without a reply.
        static func kept(until deadline: ContinuousClock.Instant) -> Slot {
            Slot(phase: .registered, deadline: deadline)
        }
    }

    private enum Phase {
        case registered
        /// Boxed: rare (a reply before its wait), and it would make every slot 60 bytes larger.
        indirect case arrived(NATSMessage)
        case waiting(CheckedContinuation<NATSMessage?, Never>)
        /// `onReply`: a function takes the reply (or nil) where it ends, instead of a task.
        case callback(@Sendable (NATSMessage?) -> Void)
    }

    /// What ends a slot's wait: a parked task, or a function called in its place.
    private enum Waiter {
        case task(CheckedContinuation<NATSMessage?, Never>)
        case callback(@Sendable (NATSMessage?) -> Void)

        init?(_ phase: Phase) {
            switch phase {
            case .waiting(let continuation): self = .task(continuation)
            case .callback(let body): self = .callback(body)
            case .registered, .arrived: return nil
            }
        }

        func resume(returning message: NATSMessage?) {
            switch self {
            case .task(let continuation): continuation.resume(returning: message)
            case .callback(let body): body(message)
            }
        }
    }

    init(prefix: String, orphanTimeout: Duration = .seconds(600), orphanScanInterval: Duration = .seconds(10)) {
        self.prefix = prefix
        self.orphanTimeout = orphanTimeout
        self.orphanScanInterval = orphanScanInterval
        self.state = Mutex(State(orphanTimeout: orphanTimeout))
    }

    /// A fresh reply subject, registered so that an early reply is kept.
    @inline(never) func register() -> String {
        let deadline = ContinuousClock.now.advanced(by: orphanTimeout)
        let token = state.withLock { state -> String in
            state.counter &+= 1
            let token = String(state.counter, radix: 36)
            state.slots.updateValue(Slot(phase: .registered, deadline: deadline), forKey: token)
            return token
        }
        return prefix + token
    }

    /// Makes a failed reply to `subject`, or no reply within `timeout`, end the wait on `other`
    /// (with nil) too, or the wait that starts on it later, so that one task can wait for two
    /// replies — a job's answer and its publish's acknowledgement, which comes first unless
    /// the publish failed — and resume once. `isFailure` runs on the reading thread: keep it
    /// short. Both subjects are registered ones (`register()`); the caller takes the reply
    /// with a wait (a subject whose reply did not come in time is forgotten).
    func watch(_ subject: String, failureEnds other: String, within timeout: Duration, isFailure: @escaping @Sendable (NATSMessage) -> Bool) {
        let (token, otherToken) = (self.token(subject), self.token(other))
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let (waiter, startSweeper) = state.withLock { state -> (CheckedContinuation<NATSMessage?, Never>?, Bool) in
            guard var slot = state.slots[token] else { return (nil, false) }
            if case .arrived(let message) = slot.phase {
                return (isFailure(message) ? state.endLinked(otherToken) : nil, false)
            }
            slot.failure = Slot.Failure(ends: otherToken, isFailure: isFailure)
            slot.deadline = deadline
            state.slots.updateValue(slot, forKey: token)
            state.due.add(token, due: deadline)
            return (nil, state.claimSweeper())
        }
        waiter?.resume(returning: nil)
        if startSweeper { startSweeping() }
    }

    /// Calls `body` with the first reply to `subject` (a registered one), or with nil when none
    /// comes within `timeout`, the subject is discarded or the inbox closes: exactly once, on
    /// the thread where that happens — nats.c's reading thread for a reply (keep it short), the
    /// sweeper's for a timeout, this one for a reply that came already. What a task would do
    /// after awaiting the reply, done where the reply lands: a second request sent from there
    /// costs no thread hand-off (`SentRequest.whenReplied`).
    func onReply(_ subject: String, within timeout: Duration, _ body: @escaping @Sendable (NATSMessage?) -> Void) {
        let token = self.token(subject)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        enum Next { case call(NATSMessage?), park(startSweeper: Bool) }
        let next: Next = state.withLock { state in
            guard let slot = state.slots[token] else { return .call(nil) }  // unknown or expired
            switch slot.phase {
            case .arrived(let message):
                state.slots.removeValue(forKey: token)
                return .call(message)
            case .registered where !state.closed:
                state.slots.updateValue(Slot(phase: .callback(body), deadline: deadline), forKey: token)
                state.due.add(token, due: deadline)
                return .park(startSweeper: state.claimSweeper())
            case .registered:
                state.slots.removeValue(forKey: token)
                return .call(nil)
            case .waiting, .callback:
                return .call(nil)  // already awaited elsewhere
            }
        }
        switch next {
        case .call(let message): body(message)
        case .park(let startSweeper): if startSweeper { startSweeping() }
        }
    }

    func discard(_ subject: String) {
        let token = self.token(subject)
        let slot = state.withLock { $0.slots.removeValue(forKey: token) }
        if let slot, let waiter = Waiter(slot.phase) {
            waiter.resume(returning: nil)
        }
    }

    /// Called on nats.c's reading thread (`ReaderDelivery`), or its delivery thread where the
    /// library has no message filter, for every message under the inbox.
    func deliver(_ message: NATSMessage) {
        guard message.subject.hasPrefix(prefix) else { return }
        let token = self.token(message.subject)
        let (waiter, linked): (Waiter?, CheckedContinuation<NATSMessage?, Never>?) = state.withLock { state in
            guard let slot = state.slots[token] else { return (nil, nil) }  // nobody waits any more
            switch slot.phase {
            case .registered:
                // Kept for a wait to come, as long as a registered subject: a watched reply's
                // deadline was its own (`watch`), and the orphan scan must not take the
                // acknowledgement a call's `202` reads after its client's wait.
                var arrived = slot
                arrived.phase = .arrived(message)
                arrived.deadline = ContinuousClock.now.advanced(by: state.orphanTimeout)
                state.slots.updateValue(arrived, forKey: token)
                guard let failure = slot.failure, failure.isFailure(message) else { return (nil, nil) }
                return (nil, state.endLinked(failure.ends))
            case .waiting, .callback:
                state.slots.removeValue(forKey: token)
                return (Waiter(slot.phase), nil)
            case .arrived:
                return (nil, nil)  // a second reply: the first one counts
            }
        }
        waiter?.resume(returning: message)
        linked?.resume(returning: nil)
    }

    /// Awaits the first reply to `subject`, or nil at the timeout, an interruption (when
    /// `interruptible`), a cancellation or the close. With `keep`, a timeout or an interruption
    /// leaves the subject registered, so that one wait serves a client's call and a later one
    /// picks up the reply that comes after it; otherwise the subject is forgotten.
    @inline(never) func wait(for subject: String, timeout: Duration, interruptible: Bool = false, keep: Bool = false) async -> NATSMessage? {
        let token = self.token(subject)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<NATSMessage?, Never>) in
                enum Next { case resume(NATSMessage?), park(startSweeper: Bool) }
                let next: Next = state.withLock { state in
                    guard let slot = state.slots[token] else { return .resume(nil) }  // unknown or expired
                    switch slot.phase {
                    case .arrived(let message):
                        state.slots.removeValue(forKey: token)
                        return .resume(message)
                    case .registered:
                        if state.closed {
                            state.slots.removeValue(forKey: token)
                            return .resume(nil)
                        }
                        if Task.isCancelled || (interruptible && state.interrupted) {
                            if !keep { state.slots.removeValue(forKey: token) }
                            return .resume(nil)
                        }
                        state.slots.updateValue(Slot(phase: .waiting(continuation), deadline: deadline, interruptible: interruptible, keep: keep), forKey: token)
                        state.due.add(token, due: deadline)
                        return .park(startSweeper: state.claimSweeper())
                    case .waiting, .callback:
                        return .resume(nil)  // already awaited elsewhere
                    }
                }
                switch next {
                case .resume(let message): continuation.resume(returning: message)
                case .park(let startSweeper): if startSweeper { startSweeping() }
                }
            }
        } onCancel: {
            if keep { stopWaiting(subject) } else { discard(subject) }
        }
    }

    /// Ends the wait on `subject` with nil but keeps the subject registered.
    private func stopWaiting(_ subject: String) {
        let token = self.token(subject)
        let now = ContinuousClock.now
        let waiter = state.withLock { state -> CheckedContinuation<NATSMessage?, Never>? in
            guard let slot = state.slots[token], case .waiting(let continuation) = slot.phase else { return nil }
            state.slots.updateValue(.kept(until: now.advanced(by: state.orphanTimeout)), forKey: token)
            return continuation
        }
        waiter?.resume(returning: nil)
    }

    /// Ends every interruptible wait with nil, now and from now on (a gateway that drains).
    func interrupt() {
        let now = ContinuousClock.now
        let waiting = state.withLock { state -> [CheckedContinuation<NATSMessage?, Never>] in
            state.interrupted = true
            var ended: [CheckedContinuation<NATSMessage?, Never>] = []
            for (token, slot) in state.slots where slot.interruptible {
                if case .waiting(let c) = slot.phase {
                    ended.append(c)
                    state.keepOrForget(token, slot, now: now)
                }
            }
            return ended
        }
        for continuation in waiting { continuation.resume(returning: nil) }
    }

    var isInterrupted: Bool { state.withLock { $0.interrupted } }

    /// Ends every wait with nil (the connection is closing).
    func cancelAll() {
        let waiting = state.withLock { state -> [Waiter] in
            state.closed = true
            let all = state.slots.values.compactMap { Waiter($0.phase) }
            state.slots.removeAll()
            state.due.removeAll()
            return all
        }
        for continuation in waiting { continuation.resume(returning: nil) }
    }

    /// Expires overdue slots every `sweepInterval` while anything is waiting.
    private func startSweeping() {
        Task.detached { [weak self] in
            while let self {
                try? await Task.sleep(for: Self.sweepInterval)
                if !self.sweep() { return }
            }
        }
    }

    /// Removes overdue slots and resumes their waiters with nil. Returns false (and stops the
    /// sweeper) when no wait is left to watch.
    private func sweep() -> Bool {
        let now = ContinuousClock.now
        let (expired, keepGoing) = state.withLock { state -> ([Waiter], Bool) in
            var expired: [Waiter] = []
            var late: [String] = []
            for token in state.due.takeDue(now: now) {
                guard let slot = state.slots[token] else { continue }
                if case .registered = slot.phase, let failure = slot.failure {
                    // A watched reply that did not come in time: it ends the linked wait.
                    if slot.deadline <= now {
                        state.slots.removeValue(forKey: token)
                        if let linked = state.endLinked(failure.ends) { expired.append(.task(linked)) }
                    } else {
                        late.append(token)
                    }
                    continue
                }
                guard let waiter = Waiter(slot.phase) else { continue }
                if slot.deadline <= now {
                    state.keepOrForget(token, slot, now: now)
                    expired.append(waiter)
                } else {
                    late.append(token)  // not expected: its tick says otherwise
                }
            }
            state.due.addToNextTick(late)
            if now - state.lastOrphanScan >= orphanScanInterval {
                state.lastOrphanScan = now
                var orphans: [String] = []
                var kept: [String] = []
                for (token, slot) in state.slots where slot.deadline <= now {
                    if Waiter(slot.phase) != nil { continue }  // in `due`
                    guard slot.failure != nil else { orphans.append(token); continue }
                    if case .registered = slot.phase { continue }  // watched, not come yet: in `due`
                    kept.append(token)
                }
                for token in orphans { state.slots.removeValue(forKey: token) }
                for token in kept {
                    // A watched reply that came: the linked wait reads it when it ends (a durable
                    // call's `202`, its job's acknowledgement), however long that is. Once that
                    // wait is gone, it is kept one more orphan timeout, as a plain reply.
                    guard var slot = state.slots[token], let failure = slot.failure else { continue }
                    if state.slots[failure.ends] == nil { slot.failure = nil }
                    slot.deadline = now.advanced(by: state.orphanTimeout)
                    state.slots.updateValue(slot, forKey: token)
                }
            }
            if state.due.isEmpty { state.sweeping = false }
            return (expired, !state.due.isEmpty)
        }
        for continuation in expired { continuation.resume(returning: nil) }
        return keepGoing
    }

    private func token(_ subject: String) -> String {
        String(subject.utf8.dropFirst(prefix.utf8.count))!
    }
}
