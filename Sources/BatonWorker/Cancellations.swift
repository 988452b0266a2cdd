import BatonCore
import BatonNATS
import Logging
import Synchronization

/// The jobs running in this worker process, so that a cancel request on `baton.cancel.<job>`
/// reaches the handler as Swift task cancellation.
///
/// A job is registered before its record is marked `running`, so a cancel that comes while it
/// starts is not lost: the token remembers it and cancels the handler as soon as it runs.
final class Cancellations: Sendable {
    private let tokens = Mutex<[String: CancelToken]>([:])

    /// Registers a job; call `done` when it ends.
    func register(_ id: String) -> CancelToken {
        let token = CancelToken()
        tokens.withLock { $0[id] = token }
        return token
    }

    func done(_ id: String) {
        _ = tokens.withLock { $0.removeValue(forKey: id) }
    }

    func cancel(_ id: String) {
        tokens.withLock { $0[id] }?.cancel()
    }

    /// Listens on `baton.cancel.*` until the task is cancelled.
    func listen(on connection: NATSConnection, logger: Logger) async throws {
        let subscription = try connection.subscribe(to: Subjects.allCancels)
        await withTaskCancellationHandler {
            for await message in subscription {
                guard let id = message.subject.split(separator: ".").last.map(String.init) else { continue }
                if tokens.withLock({ $0[id] }) != nil {
                    logger.info("cancel requested", metadata: ["job": "\(id)"])
                    cancel(id)
                }
            }
        } onCancel: {
            subscription.unsubscribe()
        }
    }
}

/// Whether a job was cancelled, and what to do when it is.
final class CancelToken: Sendable {
    private struct State {
        var cancelled = false
        var onCancel: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func cancel() {
        let action = state.withLock { state -> (@Sendable () -> Void)? in
            guard !state.cancelled else { return nil }
            state.cancelled = true
            defer { state.onCancel = nil }
            return state.onCancel
        }
        action?()
    }

    /// Runs `action` when the job is cancelled (at once if it already is).
    func onCancel(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.cancelled { return true }
            state.onCancel = action
            return false
        }
        if runNow { action() }
    }
}

/// Graceful shutdown's first step for a worker: stop taking work.
final class StopSignal: Sendable {
    private struct State {
        var stopped = false
        var next = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    var isStopping: Bool { state.withLock { $0.stopped } }

    func stop() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.stopped else { return [] }
            state.stopped = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once `stop()` was called, or when the task is cancelled.
    func wait() async {
        let id = state.withLock { state -> Int in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.stopped || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
