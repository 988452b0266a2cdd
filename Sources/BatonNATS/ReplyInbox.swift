import NIOCore
import NIOPosix
import Synchronization

/// Routes replies that arrive on the connection's wildcard inbox (`_INBOX.<nuid>.*`) to the
/// tasks awaiting them, so a request never parks a thread.
///
/// Each reply subject is a small promise with three states: registered (nobody waits yet),
/// arrived (the reply came before anyone waited) and waiting (a continuation is parked). A
/// timeout, a cancellation and the reply race; whichever removes the entry under the lock wins,
/// and continuations are resumed after the lock is released.
final class ReplyInbox: Sendable {
    let prefix: String
    private let state = Mutex(State())
    private let timerLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()

    private struct State {
        var slots: [String: Slot] = [:]
        var counter: UInt64 = 0
    }

    private enum Slot {
        case registered
        case arrived(NATSMessage)
        case waiting(CheckedContinuation<NATSMessage?, Never>, Scheduled<Void>?)
    }

    init(prefix: String) { self.prefix = prefix }

    /// A fresh reply subject, registered so that an early reply is kept.
    func register() -> String {
        let token = state.withLock { state -> String in
            state.counter &+= 1
            let token = String(state.counter, radix: 36)
            state.slots[token] = .registered
            return token
        }
        return prefix + token
    }

    func discard(_ subject: String) {
        let token = self.token(subject)
        let slot = state.withLock { $0.slots.removeValue(forKey: token) }
        if case .waiting(let continuation, let timer) = slot {
            timer?.cancel()
            continuation.resume(returning: nil)
        }
    }

    /// Called on nats.c's delivery thread for every message under the inbox.
    func deliver(_ message: NATSMessage) {
        guard message.subject.hasPrefix(prefix) else { return }
        let token = self.token(message.subject)
        let waiter: (CheckedContinuation<NATSMessage?, Never>, Scheduled<Void>?)? = state.withLock { state in
            switch state.slots[token] {
            case .registered:
                state.slots[token] = .arrived(message)
                return nil
            case .waiting(let continuation, let timer):
                state.slots[token] = nil
                return (continuation, timer)
            case .arrived, nil:
                return nil  // a second reply, or one nobody waits for any more
            }
        }
        if let (continuation, timer) = waiter {
            timer?.cancel()
            continuation.resume(returning: message)
        }
    }

    func wait(for subject: String, timeout: Duration) async -> NATSMessage? {
        let token = self.token(subject)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<NATSMessage?, Never>) in
                enum Next { case resume(NATSMessage?), park }
                let next: Next = state.withLock { state in
                    switch state.slots[token] {
                    case .arrived(let message):
                        state.slots[token] = nil
                        return .resume(message)
                    case .registered:
                        if Task.isCancelled {
                            state.slots[token] = nil
                            return .resume(nil)
                        }
                        state.slots[token] = .waiting(continuation, nil)
                        return .park
                    case .waiting, nil:
                        return .resume(nil)  // unknown, expired or already awaited
                    }
                }
                switch next {
                case .resume(let message):
                    continuation.resume(returning: message)
                case .park:
                    let timer = timerLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [weak self] in
                        guard let self else { return }
                        self.discard(subject)
                    }
                    // Attach the timer unless the reply (or a cancel) already took the slot.
                    let attached = state.withLock { state -> Bool in
                        guard case .waiting(let c, nil) = state.slots[token] else { return false }
                        state.slots[token] = .waiting(c, timer)
                        return true
                    }
                    if !attached { timer.cancel() }
                }
            }
        } onCancel: {
            discard(subject)
        }
    }

    /// Ends every wait with nil (the connection is closing).
    func cancelAll() {
        let waiting = state.withLock { state -> [(CheckedContinuation<NATSMessage?, Never>, Scheduled<Void>?)] in
            let all = state.slots.values.compactMap { slot -> (CheckedContinuation<NATSMessage?, Never>, Scheduled<Void>?)? in
                if case .waiting(let c, let t) = slot { return (c, t) }
                return nil
            }
            state.slots.removeAll()
            return all
        }
        for (continuation, timer) in waiting {
            timer?.cancel()
            continuation.resume(returning: nil)
        }
    }

    private func token(_ subject: String) -> String {
        String(subject.utf8.dropFirst(prefix.utf8.count))!
    }
}
