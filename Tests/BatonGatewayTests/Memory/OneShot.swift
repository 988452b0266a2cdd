import Synchronization

/// A value set once (the first set wins) that any number of tasks wait for, each for at most a
/// timeout; a waiter that gives up leaves nothing waiting behind (unlike `Task.value`, which
/// cannot be abandoned).
final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [AsyncStream<Void>.Continuation] = []
    }

    private let state = Mutex(State())

    func set(_ value: Value) {
        let waiters = state.withLock { state -> [AsyncStream<Void>.Continuation] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.finish() }
    }

    /// The value, once set; nil when it was not set within `timeout`.
    func value(within timeout: Duration) async -> Value? {
        let (set, input) = AsyncStream.makeStream(of: Void.self)
        if let value = state.withLock({ state -> Value? in
            if state.value == nil { state.waiters.append(input) }
            return state.value
        }) {
            return value
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in set {} }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return state.withLock { $0.value }
    }
}
