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
final class ReplyInbox: Sendable {
    let prefix: String
    private let state = Mutex(State())
    static let sweepInterval: Duration = .milliseconds(20)
    /// A registered subject nobody waits on is forgotten after this long.
    static let orphanTimeout: Duration = .seconds(600)

    private struct State {
        var slots: [String: Slot] = [:]
        var counter: UInt64 = 0
        var sweeping = false
        var closed = false
        /// `interrupt()` was called: interruptible waits end at once.
        var interrupted = false
    }

    private struct Slot {
        var phase: Phase
        var deadline: ContinuousClock.Instant
        var interruptible = false
    }

    private enum Phase {
        case registered
        case arrived(NATSMessage)
        case waiting(CheckedContinuation<NATSMessage?, Never>)
    }

    init(prefix: String) { self.prefix = prefix }

    /// A fresh reply subject, registered so that an early reply is kept.
    func register() -> String {
        let deadline = ContinuousClock.now.advanced(by: Self.orphanTimeout)
        let token = state.withLock { state -> String in
            state.counter &+= 1
            let token = String(state.counter, radix: 36)
            state.slots[token] = Slot(phase: .registered, deadline: deadline)
            return token
        }
        return prefix + token
    }

    func discard(_ subject: String) {
        let token = self.token(subject)
        let slot = state.withLock { $0.slots.removeValue(forKey: token) }
        if case .waiting(let continuation) = slot?.phase {
            continuation.resume(returning: nil)
        }
    }

    /// Called on nats.c's delivery thread for every message under the inbox.
    func deliver(_ message: NATSMessage) {
        guard message.subject.hasPrefix(prefix) else { return }
        let token = self.token(message.subject)
        let waiter: CheckedContinuation<NATSMessage?, Never>? = state.withLock { state in
            guard let slot = state.slots[token] else { return nil }  // nobody waits any more
            switch slot.phase {
            case .registered:
                state.slots[token]?.phase = .arrived(message)
                return nil
            case .waiting(let continuation):
                state.slots[token] = nil
                return continuation
            case .arrived:
                return nil  // a second reply: the first one counts
            }
        }
        waiter?.resume(returning: message)
    }

    func wait(for subject: String, timeout: Duration, interruptible: Bool = false) async -> NATSMessage? {
        let token = self.token(subject)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<NATSMessage?, Never>) in
                enum Next { case resume(NATSMessage?), park(startSweeper: Bool) }
                let next: Next = state.withLock { state in
                    guard let slot = state.slots[token] else { return .resume(nil) }  // unknown or expired
                    switch slot.phase {
                    case .arrived(let message):
                        state.slots[token] = nil
                        return .resume(message)
                    case .registered:
                        if Task.isCancelled || state.closed || (interruptible && state.interrupted) {
                            state.slots[token] = nil
                            return .resume(nil)
                        }
                        state.slots[token] = Slot(phase: .waiting(continuation), deadline: deadline, interruptible: interruptible)
                        let start = !state.sweeping
                        state.sweeping = true
                        return .park(startSweeper: start)
                    case .waiting:
                        return .resume(nil)  // already awaited elsewhere
                    }
                }
                switch next {
                case .resume(let message): continuation.resume(returning: message)
                case .park(let startSweeper): if startSweeper { startSweeping() }
                }
            }
        } onCancel: {
            discard(subject)
        }
    }

    /// Ends every interruptible wait with nil, now and from now on (a gateway that drains).
    func interrupt() {
        let waiting = state.withLock { state -> [CheckedContinuation<NATSMessage?, Never>] in
            state.interrupted = true
            var ended: [CheckedContinuation<NATSMessage?, Never>] = []
            for (token, slot) in state.slots where slot.interruptible {
                if case .waiting(let c) = slot.phase {
                    ended.append(c)
                    state.slots[token] = nil
                }
            }
            return ended
        }
        for continuation in waiting { continuation.resume(returning: nil) }
    }

    var isInterrupted: Bool { state.withLock { $0.interrupted } }

    /// Ends every wait with nil (the connection is closing).
    func cancelAll() {
        let waiting = state.withLock { state -> [CheckedContinuation<NATSMessage?, Never>] in
            state.closed = true
            let all = state.slots.values.compactMap { slot -> CheckedContinuation<NATSMessage?, Never>? in
                if case .waiting(let c) = slot.phase { return c }
                return nil
            }
            state.slots.removeAll()
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
    /// sweeper) when no slot is left to watch.
    private func sweep() -> Bool {
        let now = ContinuousClock.now
        let (expired, keepGoing) = state.withLock { state -> ([CheckedContinuation<NATSMessage?, Never>], Bool) in
            var expired: [CheckedContinuation<NATSMessage?, Never>] = []
            var overdue: [String] = []
            for (token, slot) in state.slots where slot.deadline <= now {
                overdue.append(token)
                if case .waiting(let c) = slot.phase { expired.append(c) }
            }
            for token in overdue { state.slots[token] = nil }
            let anyWaiting = state.slots.values.contains { if case .waiting = $0.phase { true } else { false } }
            if !anyWaiting { state.sweeping = false }
            return (expired, anyWaiting)
        }
        for continuation in expired { continuation.resume(returning: nil) }
        return keepGoing
    }

    private func token(_ subject: String) -> String {
        String(subject.utf8.dropFirst(prefix.utf8.count))!
    }
}
