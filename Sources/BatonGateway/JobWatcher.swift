import BatonCore
import BatonNATS
import BatonStore

/// Waits for a job to end, for long-polls and idempotent replays: it listens on the job's answer
/// subject (`$KV.baton-results.<job>`: the write that ends a job), never polls.
///
/// The subscription is made before the record is read, on the same connection, so the server
/// sees it first: an end written before it was registered is one the read already finds.
struct JobWatcher: Sendable {
    let connection: NATSConnection
    let store: JobStore

    /// The job once it ended (with its answer), or as it is when `timeout` elapses; nil for an
    /// unknown job.
    func waitForEnd(_ id: String, timeout: Duration) async throws -> StoredRecord? {
        let subscription = try connection.subscribe(to: Subjects.answer(job: id), bufferLimit: 16)
        defer { subscription.unsubscribe() }
        guard let first = try await store.record(id) else { return nil }
        if first.record.state.isTerminal || timeout <= .zero { return first }
        let ended = await withTaskGroup(of: Bool.self) { group in
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
        guard ended else { return try await store.record(id) ?? first }
        return try await store.ended(id) ?? first
    }
}
