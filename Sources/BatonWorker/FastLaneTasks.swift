import BatonNATS
import Logging
import NIOCore
import Synchronization

/// The fast lane's requests in flight: each runs in a task of its own, started on the thread
/// that delivers the request (nats.c's reading thread, see `NATSConnection.subscribe(direct:)`),
/// at most `limit` at once; the others wait in arrival order, up to `bufferLimit`, and past
/// that are dropped and logged (their callers time out, as with any lost core-NATS request).
///
/// One task per request and no hand-off before it: a request that an `AsyncSequence` brought
/// to a loop that started a child task cost two more thread wake-ups, and a handler task
/// apart from the child (so that a cancel could reach one job) a third. A service that starts
/// `.immediately` skips the last hand-off too: its task runs on the delivering thread until it
/// first suspends (`Task.immediate`), so a handler that never does answers from there, and the
/// task gets its handle only then (a cancel that comes before is kept for it).
final class FastLaneTasks: Sendable {
    typealias Work = @Sendable (_ request: NATSMessage, _ cancel: @escaping @Sendable () -> Void) async -> Void

    /// A request that runs.
    private enum Slot {
        /// Started on the delivering thread and not suspended yet: no handle to cancel yet.
        case starting(cancelRequested: Bool)
        case running(Task<Void, Never>)
    }

    private struct State {
        var running: [UInt64: Slot] = [:]
        var waiting = CircularBuffer<NATSMessage>()
        var nextID: UInt64 = 0
        /// No request will come any more (the subscription completed).
        var closed = false
        var cancelled = false
        var dropped = 0
        var idle: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let limit: Int
    private let bufferLimit: Int
    private let handlerStart: HandlerStart
    private let work: Work
    private let logger: Logger

    init(limit: Int, bufferLimit: Int, start: HandlerStart = .inNewTask, logger: Logger, work: @escaping Work) {
        self.limit = max(1, limit)
        self.bufferLimit = bufferLimit
        self.handlerStart = start
        self.logger = logger
        self.work = work
    }

    private enum Admission {
        /// Started in a task, or queued: nothing more to do.
        case handled
        case immediately(id: UInt64)
        case dropped(count: Int)
    }

    /// Starts `request` now if fewer than `limit` run, else queues it. Does not block, unless
    /// the service starts `.immediately`: then it runs the handler until it first suspends.
    func admit(_ request: NATSMessage) {
        let admission = state.withLock { state -> Admission in
            if state.running.count < limit {
                // Started below, outside the lock: its end takes the lock, and may come before
                // `Task.immediate` returns.
                if handlerStart == .immediately && !state.cancelled {
                    let id = state.nextID
                    state.nextID &+= 1
                    state.running[id] = .starting(cancelRequested: false)
                    return .immediately(id: id)
                }
                start(request, in: &state)
                return .handled
            } else if state.waiting.count < bufferLimit {
                state.waiting.append(request)
                return .handled
            } else {
                state.dropped += 1
                return .dropped(count: state.dropped)
            }
        }
        switch admission {
        case .handled: break
        case .immediately(let id): startImmediately(request, id: id)
        case .dropped(let dropped) where dropped == 1 || dropped.isMultiple(of: 1000):
            logger.warning(
                "slow consumer: fast-lane requests waiting exceed the limit, dropping them",
                metadata: ["dropped": "\(dropped)", "limit": "\(bufferLimit)"])
        case .dropped: break
        }
    }

    /// No request will come any more.
    func close() {
        let idle = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            return state.running.isEmpty ? state.idle.take() : nil
        }
        idle?.resume()
    }

    /// Cancels the requests running and those still to start: they answer at once.
    func cancelAll() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.cancelled = true
            return state.running.values.compactMap { slot in
                if case .running(let task) = slot { task } else { nil }  // a starting one: see `startImmediately`
            }
        }
        for task in tasks { task.cancel() }
    }

    /// Returns once `close()` was called and every request admitted has ended.
    func finished() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.closed && state.running.isEmpty { return true }
                state.idle = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func start(_ request: NATSMessage, in state: inout State) {
        let id = state.nextID
        state.nextID &+= 1
        // Stored before the task can look for it: its end takes the same lock.
        let task = Task { [self] in
            await work(request) { [self] in cancel(id) }
            ended(id)
        }
        if state.cancelled { task.cancel() }
        state.running[id] = .running(task)
    }

    /// Runs request `id` (admitted as `.starting`) on this thread until it first suspends, then
    /// keeps its handle, unless it has ended already; a cancel asked for meanwhile reaches it now.
    private func startImmediately(_ request: NATSMessage, id: UInt64) {
        let task = Task.immediate { [self] in
            await work(request) { [self] in cancel(id) }
            ended(id)
        }
        let cancelled = state.withLock { state -> Bool in
            guard case .starting(let cancelRequested) = state.running[id] else { return false }
            state.running[id] = .running(task)
            return cancelRequested || state.cancelled
        }
        if cancelled { task.cancel() }
    }

    private func cancel(_ id: UInt64) {
        let task = state.withLock { state -> Task<Void, Never>? in
            switch state.running[id] {
            case .running(let task): return task
            case .starting: state.running[id] = .starting(cancelRequested: true)
            case nil: break
            }
            return nil
        }
        task?.cancel()
    }

    private func ended(_ id: UInt64) {
        let idle = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.running[id] = nil
            if let next = state.waiting.popFirst() {
                start(next, in: &state)
                return nil
            }
            return state.closed && state.running.isEmpty ? state.idle.take() : nil
        }
        idle?.resume()
    }
}
