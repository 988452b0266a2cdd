@testable import BatonWorker
import Synchronization
import Testing

/// `Cancellations` without a server: a cancel notice reaches a job registered before or after it.
@Suite("cancellations")
struct CancellationsTests {
    @Test func aNoticeForARegisteredJobCancelsItsToken() {
        let cancellations = Cancellations()
        let token = cancellations.register("a")
        #expect(!token.isCancelled)
        #expect(cancellations.cancel("a"))
        #expect(token.isCancelled)
        // Taken by the job: not remembered for a later registration of the same id.
        cancellations.done("a")
        #expect(!cancellations.register("a").isCancelled)
    }

    /// A job delivered just before its cancel may register just after the notice (two paths):
    /// its token starts cancelled, so its first delivery looks for the end.
    @Test func aNoticeBeforeTheRegistrationIsRemembered() {
        let cancellations = Cancellations()
        #expect(!cancellations.cancel("b"))
        let token = cancellations.register("b")
        #expect(token.isCancelled)
        let ran = Mutex(false)
        token.onCancel { ran.withLock { $0 = true } }
        #expect(ran.withLock { $0 })
        #expect(!cancellations.register("c").isCancelled)
    }

    @Test func onlyTheLatestUnclaimedNoticesAreRemembered() {
        let cancellations = Cancellations(remembered: 2)
        for id in ["x", "y", "z", "z"] { cancellations.cancel(id) }
        #expect(!cancellations.register("x").isCancelled)
        #expect(cancellations.register("y").isCancelled)
        #expect(cancellations.register("z").isCancelled)
    }
}
