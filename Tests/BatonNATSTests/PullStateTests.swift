@testable import BatonNATS
import Testing

@Suite struct PullStateTests {
    @Test func asksForTheWholeCapacityFirst() {
        var state = PullState(maxInFlight: 100)
        #expect(state.nextRequest() == 100)
        state.requested(100, deadline: .now.advanced(by: .seconds(10)))
        #expect(state.nextRequest() == nil)
    }

    @Test func coalescesSmallDeficits() {
        var state = PullState(maxInFlight: 100)
        state.requested(100, deadline: .now.advanced(by: .seconds(10)))
        for _ in 0..<60 { state.received() }  // 40 still requested, 60 running
        for _ in 0..<10 { state.handlerFinished() }
        #expect(state.deficit == 10)
        #expect(state.nextRequest() == nil, "10 free of 100 is not worth a request while one is open")
        for _ in 0..<20 { state.handlerFinished() }
        #expect(state.nextRequest() == 30)
    }

    @Test func aStatusEndsTheOldestRequest() {
        var state = PullState(maxInFlight: 10)
        state.requested(10, deadline: .now.advanced(by: .seconds(10)))
        state.received()
        state.ended(status: 408, pending: 9)
        #expect(state.outstanding == 0)
        #expect(state.nextRequest() == 9)
        state.ended(status: 100, pending: nil)  // idle heartbeats end nothing
    }

    @Test func expiredRequestsAreForgotten() {
        var state = PullState(maxInFlight: 5)
        state.requested(5, deadline: .now.advanced(by: .milliseconds(-1)))
        state.expire(now: .now)
        #expect(state.nextRequest() == 5)
    }

    @Test func neverAsksBeyondCapacityNorOpensTooManyRequests() {
        var state = PullState(maxInFlight: 8)
        var running = 0
        for step in 0..<200 {
            if let batch = state.nextRequest() { state.requested(batch, deadline: .now.advanced(by: .seconds(10))) }
            #expect(state.outstanding + state.running <= 8)
            #expect(state.openRequests <= PullState.maxOpenRequests)
            if state.outstanding > 0, step % 3 != 2 {
                state.received()
                running += 1
            } else if running > 0 {
                state.handlerFinished()
                running -= 1
            }
        }
    }
}
