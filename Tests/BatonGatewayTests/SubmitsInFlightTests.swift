@testable import BatonGateway
import Testing

/// Which submit starts its child task in place: the only one in flight, and no other.
@Suite("submits in flight")
struct SubmitsInFlightTests {
    @Test func onlyTheLoneCallIsAlone() {
        let submits = SubmitsInFlight()
        #expect(submits.enter())
        #expect(!submits.enter())
        #expect(!submits.enter())
        submits.leave()
        submits.leave()
        submits.leave()
        #expect(submits.enter())
        submits.leave()
    }

    @Test func countsCallsAcrossTasks() async {
        let submits = SubmitsInFlight()
        #expect(submits.enter())
        let alone = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    defer { submits.leave() }
                    return submits.enter()
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(alone == 0)  // the first call is still in flight
        submits.leave()
        #expect(submits.enter())
        submits.leave()
    }
}
