import BatonCore
import BatonStore
import BatonNATS
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
        /// Not written yet: `write` runs when `timer` fires, or at once when `current()` asks.
        case deferred(write: @Sendable () async throws -> StoredRecord, timer: TimerWheel.Timer)
        case writing(Task<StoredRecord?, Never>)
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

    /// Writes `write` after `delay` (a timer on `wheel`, not a task of its own: most jobs end
    /// first and cancel it), or at once when `current()` asks for the record first.
    init(deferring write: @escaping @Sendable () async throws -> StoredRecord, after delay: Duration, on wheel: TimerWheel = .shared) {
        mark = Mutex(.written(nil))
        let due = Flag()
        let timer = wheel.schedule(after: delay) { [weak self] in
            due.set()
            _ = self?.startWriting()
        }
        mark.withLock { $0 = .deferred(write: write, timer: timer) }
        if due.isSet { _ = startWriting() }  // the timer fired before the mark was deferred
    }

    /// Starts the deferred write (once); nil when there is none, or the job ended first.
    private func startWriting() -> Task<StoredRecord?, Never>? {
        mark.withLock { mark in
            switch mark {
            case .written: return nil
            case .writing(let task): return task
            case .deferred(let write, let timer):
                timer.cancel()
                if abandoned.isSet { return nil }
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
            case .deferred(_, let timer):
                timer.cancel()
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

    private var written: StoredRecord? {
        mark.withLock { mark in
            if case .written(let stored) = mark { return stored }
            return nil
        }
    }
}
