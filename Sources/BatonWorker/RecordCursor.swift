import BatonCore
import BatonStore
import BatonNATS
import Synchronization

/// One job's record as this worker last wrote it, shared by the runner and the handler's
/// progress reports, so each write can go without a read first; and the writes an end would
/// make pointless, held back until the job has run a while.
///
/// A first attempt's running mark can be deferred (`init(deferring:)`): it is written only once
/// the handler has run for a while (`writeDeferredMark()`, on the job's heartbeat timer), or
/// when a progress report needs the record first, and never for a job that ends before — such
/// a job's end carries its start (`JobEnding`), so the mark would be a write nobody reads.
final class RecordCursor: Sendable {
    private enum Mark {
        case written(StoredRecord?)
        /// Not written yet: `write` runs when `writeDeferredMark()` or `current()` asks.
        case deferred(write: @Sendable () async throws -> StoredRecord)
        case writing(Task<StoredRecord?, Never>)
    }

    private let mark: Mutex<Mark>
    /// Set when the job ends first: a deferred mark not yet started is never written.
    private let abandoned = Atomic<Bool>(false)
    /// Progress waiting to be written, the task that writes it, and the last reported.
    private let progress = Mutex<(latest: JobProgress?, writer: Task<Void, Never>?, last: JobProgress?)>((nil, nil, nil))

    /// The last progress reported, written or not: the job's end carries it.
    var lastProgress: JobProgress? { progress.withLock { $0.last } }

    init(_ initial: StoredRecord?) { mark = Mutex(.written(initial)) }

    /// Writes `write` when `writeDeferredMark()` or `current()` asks, unless the job ends first.
    init(deferring write: @escaping @Sendable () async throws -> StoredRecord) {
        mark = Mutex(.deferred(write: write))
    }

    /// Starts writing the deferred mark (the job has run a while), unless it ended first.
    func writeDeferredMark() { _ = startWriting() }

    /// True while a deferred mark is waiting for `writeDeferredMark()`.
    var defersMark: Bool {
        mark.withLock { mark in
            if case .deferred = mark { return true }
            return false
        }
    }

    /// Starts the deferred write (once); nil when there is none, or the job ended first.
    private func startWriting() -> Task<StoredRecord?, Never>? {
        mark.withLock { mark in
            switch mark {
            case .written: return nil
            case .writing(let task): return task
            case .deferred(let write):
                if isAbandoned { return nil }
                // A task of its own: the caller of `current()` may be cancelled, which must not
                // cancel the write.
                let task = Task<StoredRecord?, Never> { try? await write() }
                mark = .writing(task)
                return task
            }
        }
    }

    /// The record as last written; a deferred mark is written now (and waited for). Nil when
    /// unknown: callers read the record instead.
    func current() async -> StoredRecord? {
        guard let pending = startWriting() else { return written }
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
                        if isAbandoned || state.latest == nil { state.writer = nil }
                        return isAbandoned ? nil : state.latest
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
        abandoned.store(true, ordering: .releasing)
        progress.withLock { $0.writer?.cancel() }
        return mark.withLock { mark in
            switch mark {
            case .written(let stored): return stored
            case .deferred:
                mark = .written(nil)
                return nil
            case .writing:
                return nil  // the mark is being written: its revision is not known yet
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

    private var isAbandoned: Bool { abandoned.load(ordering: .acquiring) }

    private var written: StoredRecord? {
        mark.withLock { mark in
            if case .written(let stored) = mark { return stored }
            return nil
        }
    }
}
