import BatonCore
import BatonStore
import Synchronization

/// One job's record as this worker last wrote it, shared by the runner and the handler's
/// progress reports, so each write can go without a read first; and the writes an end would
/// make pointless, held back until the job has run a while.
///
/// A first attempt's running mark can be deferred (`init(deferring:after:)`): it is written
/// only once the handler has run for a while, or when a progress report needs the record
/// first, and never for a job that ends before — such a job's end carries its start
/// (`JobEnding`), so the mark would be a write nobody reads.
final class RecordCursor: Sendable {
    private enum Mark {
        case written(StoredRecord?)
        case deferred(Task<StoredRecord?, Never>)
    }

    private let mark: Mutex<Mark>
    /// Set when the job ends first: a deferred mark not yet started is never written.
    private let abandoned = Flag()
    /// Progress waiting to be written, the task that writes it, and the last reported.
    private let progress = Mutex<(latest: JobProgress?, writer: Task<Void, Never>?, last: JobProgress?)>((nil, nil, nil))

    /// The last progress reported, written or not: the job's end carries it.
    var lastProgress: JobProgress? { progress.withLock { $0.last } }

    private final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        var isSet: Bool { value.load(ordering: .acquiring) }
        func set() { value.store(true, ordering: .releasing) }
    }

    init(_ initial: StoredRecord?) { mark = Mutex(.written(initial)) }

    /// Writes `write` after `delay`, or at once when `current()` asks for the record first.
    init(deferring write: @escaping @Sendable () async throws -> StoredRecord, after delay: Duration) {
        let abandoned = self.abandoned
        let task = Task<StoredRecord?, Never> {
            try? await Task.sleep(for: delay)  // cut short by `current()` or `abandon()`
            if abandoned.isSet { return nil }
            // In a task of its own: this one may be cancelled, which must not cancel the write.
            return try? await Task { try await write() }.value
        }
        mark = Mutex(.deferred(task))
    }

    /// The record as last written; a deferred mark is written now (and waited for). Nil when
    /// unknown: callers read the record instead.
    func current() async -> StoredRecord? {
        let pending: Task<StoredRecord?, Never>? = mark.withLock { mark in
            if case .deferred(let task) = mark { return task }
            return nil
        }
        guard let pending else { return written }
        pending.cancel()
        let stored = await pending.value
        advance(to: stored)
        return written
    }

    /// Records `latest` as the job's progress within `interval`: reports that come faster are
    /// coalesced (the last wins), and a job that ends first skips the write (its end says how
    /// far it got). `write` gets the progress and the record as last written.
    func recordProgress(
        _ latest: JobProgress, within interval: Duration, _ write: @escaping @Sendable (JobProgress, StoredRecord?) async -> StoredRecord?
    ) {
        progress.withLock { state in
            state.latest = latest
            state.last = latest
            guard state.writer == nil else { return }
            state.writer = Task { [self] in
                while true {
                    try? await Task.sleep(for: interval)
                    let next: JobProgress? = progress.withLock { state in
                        defer { state.latest = nil }
                        if abandoned.isSet || state.latest == nil { state.writer = nil }
                        return abandoned.isSet ? nil : state.latest
                    }
                    guard let next else { return }
                    advance(to: await write(next, await current()))
                }
            }
        }
    }

    /// The record as last written, without writing a deferred mark or progress (which are then
    /// never written); nil when unknown.
    func abandon() -> StoredRecord? {
        abandoned.set()
        progress.withLock { $0.writer?.cancel() }
        return mark.withLock { mark in
            switch mark {
            case .written(let stored): return stored
            case .deferred(let task):
                task.cancel()
                return nil
            }
        }
    }

    func advance(to stored: StoredRecord?) {
        guard let stored else { return }
        mark.withLock { mark in
            switch mark {
            case .written(let current) where current != nil && current!.revision >= stored.revision: break
            default: mark = .written(stored)
            }
        }
    }

    private var written: StoredRecord? {
        mark.withLock { mark in
            if case .written(let stored) = mark { return stored }
            return nil
        }
    }
}
