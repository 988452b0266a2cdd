import BatonCore
import BatonNATS
import BatonStore

/// Waits for a job to end, for long-polls and idempotent replays: it listens for the terminal
/// event on `baton.done.*.<job>`, never polls.
///
/// The subscription is made before the record is read, on the same connection, so the server
/// sees it first: an event published before it was registered belongs to a record that the read
/// already finds terminal.
struct JobWatcher: Sendable {
    let connection: NATSConnection
    let store: JobStore

    /// The job's record once it ended, or as it is when `timeout` elapses; nil for an unknown job.
    func waitForEnd(_ id: String, timeout: Duration) async throws -> JobRecord? {
        let subscription = try connection.subscribe(to: Subjects.done(job: id), bufferLimit: 16)
        defer { subscription.unsubscribe() }
        guard let first = try await store.record(id)?.record else { return nil }
        if first.state.isTerminal || timeout <= .zero { return first }
        _ = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in subscription { return true }
                return false
            }
            group.addTask {
                await connection.waitUntilInterrupted(timeout: timeout)  // or the gateway drains
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        return try await store.record(id)?.record ?? first
    }
}
