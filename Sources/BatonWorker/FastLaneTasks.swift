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
/// apart from the child (so that a cancel could reach one job) a third.
final class FastLaneTasks: Sendable {
    typealias Work = @Sendable (_ request: NATSMessage, _ cancel: @escaping @Sendable () -> Void) async -> Void

    private struct State {
        var running: [UInt64: Task<Void, Never>] = [:]
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
    private let work: Work
    private let logger: Logger

    init(limit: Int, bufferLimit: Int, logger: Logger, work: @escaping Work) {
        self.limit = max(1, limit)
        self.bufferLimit = bufferLimit
        self.logger = logger
        self.work = work
    }

    /// Starts `request` now if fewer than `limit` run, else queues it. Does not block.
    func admit(_ request: NATSMessage) {
        let dropped = state.withLock { state -> Int? in
            if state.running.count < limit {
                start(request, in: &state)
            } else if state.waiting.count < bufferLimit {
                state.waiting.append(request)
            } else {
                state.dropped += 1
                return state.dropped
            }
            return nil
        }
        if let dropped, dropped == 1 || dropped.isMultiple(of: 1000) {
            logger.warning(
                "slow consumer: fast-lane requests waiting exceed the limit, dropping them",
                metadata: ["dropped": "\(dropped)", "limit": "\(bufferLimit)"])
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
            return Array(state.running.values)
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
        state.running[id] = task
    }

    private func cancel(_ id: UInt64) {
        state.withLock { $0.running[id] }?.cancel()
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
