/// Runs `body` in a child task and returns what it returns.
///
/// A Swift task keeps every slab of async-frame memory it has used until it ends, and every
/// frame on its stack while it waits. A request that does deep work (JetStream round trips,
/// decoding: frames of several KB) and then waits a long time for a worker keeps all that for
/// the whole wait; done here, the work leaves nothing behind in the waiting task. Task-local
/// values and cancellation carry over (a child task). Not inlined: the task group's own state
/// stays out of the caller's frame.
@inline(never) func inChildTask<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask(operation: body)
        return try await group.next()!
    }
}
