@testable import BatonNATS
import BatonTestSupport
import Synchronization
import Testing

/// The timer wheel without a server: actions run once, not before their time, and never once
/// cancelled; the sweeper stops when nothing is pending and starts again for the next timer.
@Suite("timer wheel", .timeLimit(.minutes(1)))
struct TimerWheelTests {
    @Test func actionsRunOnceNotBeforeTheirTime() async throws {
        let wheel = TimerWheel(resolution: .milliseconds(10))
        let clock = ContinuousClock()
        let start = clock.now
        let ran = Shared<[Int: Duration]>([:])
        let runs = Shared(0)
        for i in 0..<200 {
            wheel.schedule(after: .milliseconds(50 + (i % 4) * 50)) {
                ran.withLock { $0[i] = clock.now - start }
                runs.withLock { $0 += 1 }
            }
        }
        try await waitUntil(timeout: .seconds(20)) { runs.value == 200 }
        try await Task.sleep(for: .milliseconds(100))
        #expect(runs.value == 200, "an action ran twice")
        for i in 0..<200 {
            let due = Duration.milliseconds(50 + (i % 4) * 50)
            #expect(ran.withLock { $0[i] }! >= due, "action \(i) ran early")
        }
        try await waitUntil(timeout: .seconds(5)) { wheel.pendingCount == 0 }
    }

    @Test func aCancelledActionNeverRuns() async throws {
        let wheel = TimerWheel(resolution: .milliseconds(10))
        let cancelledRan = Shared(false)
        let keptRan = Shared(false)
        let cancelled = wheel.schedule(after: .milliseconds(30)) { cancelledRan.withLock { $0 = true } }
        wheel.schedule(after: .milliseconds(60)) { keptRan.withLock { $0 = true } }
        #expect(cancelled.cancel())
        #expect(!cancelled.cancel(), "a second cancel finds nothing to stop")
        try await waitUntil(timeout: .seconds(10)) { keptRan.value }
        #expect(cancelledRan.value == false)
    }

    /// An action may schedule the next one (a heartbeat does); the sweeper that stopped when the
    /// wheel ran empty starts again for it.
    @Test func actionsScheduleTheirSuccessors() async throws {
        let wheel = TimerWheel(resolution: .milliseconds(10))
        let beats = Shared(0)
        @Sendable func beat() {
            if beats.withLock({ $0 += 1; return $0 }) < 5 { wheel.schedule(after: .milliseconds(20), beat) }
        }
        wheel.schedule(after: .milliseconds(20), beat)
        try await waitUntil(timeout: .seconds(10)) { beats.value == 5 }
        try await waitUntil(timeout: .seconds(5)) { wheel.pendingCount == 0 }
        let again = Shared(false)
        wheel.schedule(after: .milliseconds(20)) { again.withLock { $0 = true } }
        try await waitUntil(timeout: .seconds(10)) { again.value }
    }
}

/// A value the test's closures share.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}
