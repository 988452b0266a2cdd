import Synchronization

/// Runs `body` in a child task and returns what it returns.
///
/// A Swift task keeps every slab of async-frame memory it has used until it ends, and every
/// frame on its stack while it waits. A request that does deep work (JetStream round trips,
/// decoding: frames of several KB) and then waits a long time for a worker keeps all that for
/// the whole wait; done here, the work leaves nothing behind in the waiting task. Task-local
/// values and cancellation carry over (a child task). Not inlined: the task group's own state
/// stays out of the caller's frame.
///
/// `immediately` starts the child on the caller's thread, where it runs until it first
/// suspends (`addImmediateTask`), instead of enqueueing it for the pool: no thread is woken to
/// take it. See `SubmitsInFlight` for when that pays.
@inline(never) func inChildTask<T: Sendable>(immediately: Bool = false, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        if immediately {
            group.addImmediateTask(operation: body)
        } else {
            group.addTask(operation: body)
        }
        return try await group.next()!
    }
}

/// How many submits a gateway has in flight, to tell a lone call from one among many.
///
/// A submit's child task started on the caller's thread (`inChildTask(immediately:)`) spares
/// waking another thread to take it: on a 2-core VM a lone call's p50 read 21–48 µs less on
/// the fast lane and ~95 µs less on the durable lane. Under load, every call started so cost
/// throughput (F 0.93–1.0× in four pairs): enqueued, the starts of many calls spread over the
/// pool's threads. So only the call that is the only one in flight starts in place; with
/// others in flight the child is enqueued as before. Under load ~0.3% of calls are alone (F
/// 0.90–1.03× side by side in four runs: the box's spread). bench/NOTES.md, 2026-12-07 night.
final class SubmitsInFlight: Sendable {
    private let count = Atomic<Int>(0)

    /// Counts a submit in; true when it is the only one in flight.
    func enter() -> Bool { count.wrappingAdd(1, ordering: .relaxed).newValue == 1 }

    func leave() { count.wrappingSubtract(1, ordering: .relaxed) }
}
