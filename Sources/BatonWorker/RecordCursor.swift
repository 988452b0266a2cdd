import BatonStore
import Synchronization

/// The latest revision of one job's record as this worker wrote it, shared by the runner and
/// the handler's progress reports, so each write can go without a read first.
final class RecordCursor: Sendable {
    private let value: Mutex<StoredRecord?>

    init(_ initial: StoredRecord?) { value = Mutex(initial) }

    var current: StoredRecord? { value.withLock { $0 } }

    func advance(to stored: StoredRecord?) {
        guard let stored else { return }
        value.withLock { current in
            if current == nil || current!.revision < stored.revision { current = stored }
        }
    }
}
