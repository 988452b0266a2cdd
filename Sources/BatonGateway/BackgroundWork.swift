import Synchronization

/// Work a request leaves behind (recording a fast-lane answer after the client got its `202`),
/// counted so that a stopping gateway can wait for it.
final class BackgroundWork: Sendable {
    private let count = Atomic<Int>(0)

    @discardableResult
    func run(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        count.add(1, ordering: .relaxed)
        return Task {
            await body()
            self.count.subtract(1, ordering: .relaxed)
        }
    }

    var running: Int { count.load(ordering: .relaxed) }

    /// Returns when nothing runs, or after `timeout` (checked every 50 ms: shutdown only).
    func waitUntilIdle(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while running > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
