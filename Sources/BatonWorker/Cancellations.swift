import BatonCore
import BatonNATS
import Logging
import Synchronization

/// The jobs running in this worker process, so that a cancel request on `baton.cancel.<job>`
/// reaches the handler as Swift task cancellation.
///
/// A job is registered before it starts, so a cancel that comes while it starts is not lost:
/// the token remembers it and cancels the handler as soon as it runs. A cancel notice for a job
/// not registered (yet) is remembered too, among the last `remembered` ones: the notice comes
/// by a subscription of its own and a pulled job by the connection's reading thread, so a job
/// delivered just before its cancel may be registered just after the notice. Its token then
/// starts cancelled, and the runner looks for the job's end before it runs it
/// (`DurableJobRunner.start`).
final class Cancellations: Sendable {
    private struct State {
        var tokens: [String: CancelToken] = [:]
        /// Cancelled ids no token took, oldest first (at most `remembered`).
        var recent: [String] = []
        var recentSet: Set<String> = []
    }

    private let state = Mutex(State())
    /// How many unclaimed cancel notices are remembered (cancels are rare; ~40 bytes each).
    let remembered: Int

    init(remembered: Int = 1024) {
        self.remembered = remembered
    }

    /// Registers a job; call `done` when it ends.
    func register(_ id: String) -> CancelToken {
        let token = CancelToken()
        let cancelled = state.withLock { state in
            state.tokens[id] = token
            return state.recentSet.contains(id)
        }
        if cancelled { token.cancel() }
        return token
    }

    func done(_ id: String) {
        _ = state.withLock { $0.tokens.removeValue(forKey: id) }
    }

    /// A cancel notice for `id`: cancels its token, or remembers it for a job not registered
    /// yet. Returns true when a registered job took it.
    @discardableResult
    func cancel(_ id: String) -> Bool {
        let token = state.withLock { state -> CancelToken? in
            if let token = state.tokens[id] { return token }
            if state.recentSet.insert(id).inserted {
                state.recent.append(id)
                if state.recent.count > remembered { state.recentSet.remove(state.recent.removeFirst()) }
            }
            return nil
        }
        token?.cancel()
        return token != nil
    }

    /// Listens on `baton.cancel.*` until the task is cancelled.
    func listen(on connection: NATSConnection, logger: Logger) async throws {
        let subscription = try connection.subscribe(to: Subjects.allCancels)
        await withTaskCancellationHandler {
            for await message in subscription {
                guard let id = message.subject.split(separator: ".").last.map(String.init) else { continue }
                if cancel(id) { logger.info("cancel requested", metadata: ["job": "\(id)"]) }
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
