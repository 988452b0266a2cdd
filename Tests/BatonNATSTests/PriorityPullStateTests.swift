@testable import BatonNATS
import Testing

/// A stand-in for the server in front of a `PriorityPullState`: `available[level]` messages wait
/// on each consumer; a no-wait pull takes what is there and ends with 404 (nothing) or 408
/// (fewer than asked); a long poll takes what is there and stays open for the rest.
private struct FakeServer {
    var state: PriorityPullState
    var available: [Int]
    var takes: [Int] = []
    var sent: [PriorityPullState.Pull] = []
    let now = ContinuousClock.now

    init(capacity: Int, available: [Int]) {
        state = PriorityPullState(capacity: capacity, levels: available.count)
        self.available = available
    }

    /// Sends what the state asks for and answers it, until it asks for nothing more.
    mutating func settle() {
        var pulls = state.nextPulls(now: now)
        while !pulls.isEmpty {
            for pull in pulls {
                sent.append(pull)
                let n = min(pull.batch, available[pull.level])
                for _ in 0..<n {
                    available[pull.level] -= 1
                    let started = state.received(level: pull.level, pending: UInt64(available[pull.level]))
                    #expect(started)
                    takes.append(pull.level)
                }
                if pull.mode == .noWait, n < pull.batch {
                    state.ended(id: pull.id, status: n == 0 ? 404 : 408, now: now)
                }
            }
            checkInvariant()
            pulls = state.nextPulls(now: now)
        }
    }

    /// `count` messages published to `level`: a long poll waiting there takes what it can.
    mutating func arrive(_ level: Int, count: Int = 1) {
        available[level] += count
        while available[level] > 0, let request = state.open[level], request.mode != .noWait {
            available[level] -= 1
            let started = state.received(level: level, pending: UInt64(available[level]))
            #expect(started)
            takes.append(level)
        }
        settle()
    }

    mutating func finish() {
        let startedParked = state.handlerFinished()
        #expect(!startedParked)
        settle()
    }

    func checkInvariant() {
        #expect(state.running + state.parked + state.requested <= state.capacity)
        #expect(state.running <= state.capacity)
    }
}

@Suite struct PriorityPullStateTests {
    /// A draining worker hands messages back delayed until its last long poll has expired, so
    /// that none of them bounces back into one of its own polls (a delivery counted each time).
    @Test func handBackWaitsOutTheOpenLongPolls() {
        var server = FakeServer(capacity: 8, available: [0, 0, 0])
        #expect(server.state.handBackDelay(now: server.now) == .zero, "no poll open")
        server.settle()  // scans (no-wait, answered) then long polls of 5 s
        #expect(server.state.handBackDelay(now: server.now) == .seconds(7), "5 s, and 2 s of grace")
        #expect(server.state.handBackDelay(now: server.now.advanced(by: .seconds(2))) == .seconds(5))
        #expect(server.state.handBackDelay(now: server.now.advanced(by: .seconds(8))) == .zero, "ended at the server")
    }

    @Test func idleWorkerScansEveryLevelThenCoversEachLevel() {
        var server = FakeServer(capacity: 8, available: [0, 0, 0])
        server.settle()
        let scans = server.sent.prefix(3)
        #expect(scans.map(\.level) == [0, 1, 2])
        #expect(scans.allSatisfy { $0.mode == .noWait && $0.batch == 8 })
        let covers = server.sent.dropFirst(3)
        #expect(covers.map(\.level) == [1, 0, 2])
        #expect(covers.map(\.batch) == [2, 1, 1], "normal: a quarter of the capacity; high and low: one")
        #expect(covers.allSatisfy { $0.mode == .wait(expires: .seconds(5)) })
        #expect(server.state.free == 4, "the rest stays unrequested")
        let more = server.state.nextPulls(now: server.now)
        #expect(more.isEmpty)
    }

    @Test func withFewerSlotsThanLevelsNormalIsCoveredFirstWithAShortExpiry() {
        var one = FakeServer(capacity: 1, available: [0, 0, 0])
        one.settle()
        #expect(one.sent.dropFirst(3).map(\.level) == [1])
        #expect(one.sent.last?.mode == .wait(expires: .seconds(1)))

        var two = FakeServer(capacity: 2, available: [0, 0, 0])
        two.settle()
        #expect(two.sent.dropFirst(3).map(\.level) == [1, 0])
        #expect(two.sent.last?.mode == .wait(expires: .seconds(1)))
    }

    @Test func aCoveredLevelDeliversAtOnceAndItsBurstIsScannedWithTheFreeCapacity() {
        var server = FakeServer(capacity: 8, available: [0, 0, 0])
        server.settle()
        server.sent.removeAll()
        server.arrive(2, count: 9)  // a burst of low jobs: the low cover takes the first
        #expect(server.takes == [2, 2, 2, 2, 2])
        // One no-wait pull on low for everything not running or reserved by the other covers.
        #expect(server.sent.first == PriorityPullState.Pull(id: server.sent.first!.id, level: 2, batch: 4, mode: .noWait))
        #expect(server.state.running == 5)
        #expect(server.state.requested == 3)
    }

    @Test func sequentialJobsOnAnIdleWorkerCostOneRequestPerFour() {
        var server = FakeServer(capacity: 16, available: [0, 0, 0])
        server.settle()
        server.sent.removeAll()
        for round in 1...3 {
            for _ in 0..<4 {
                server.arrive(1)  // taken by the normal cover at once
                server.finish()
            }
            // The fourth filled the cover with nothing behind it: no scan, only a new cover.
            #expect(server.sent.count == round)
            #expect(server.sent.last == PriorityPullState.Pull(id: server.sent.last!.id, level: 1, batch: 4, mode: .wait(expires: .seconds(5))))
        }
        #expect(server.takes == Array(repeating: 1, count: 12))
    }

    @Test func backlogIsTakenInPriorityOrder() {
        var server = FakeServer(capacity: 4, available: [2, 3, 5])
        server.settle()
        #expect(server.takes == [0, 0, 1, 1])
        for _ in 0..<4 { server.finish() }
        #expect(server.takes == [0, 0, 1, 1, 1, 2, 2, 2])
    }

    @Test func antiStarvationAsksNormalAndLowEveryFourthTake() {
        var server = FakeServer(capacity: 1, available: [100, 100, 100])
        server.settle()
        for _ in 0..<14 { server.finish() }
        #expect(server.takes == [0, 0, 0, 1, 2, 0, 0, 1, 2, 0, 0, 1, 2, 0, 0])
    }

    @Test func anEmptyNormalDoesNotStopLowFromProgressingUnderHighLoad() {
        var server = FakeServer(capacity: 1, available: [1000, 0, 1000])
        server.settle()
        for _ in 0..<23 { server.finish() }
        let lows = server.takes.filter { $0 == 2 }.count
        #expect(lows >= 5, "\(server.takes)")
        #expect(server.takes.filter { $0 == 0 }.count >= 17)
    }

    @Test func aHighJobIsTakenByTheNextScanWhileLowIsBacklogged() {
        var server = FakeServer(capacity: 1, available: [0, 0, 30])
        server.settle()
        for _ in 0..<5 { server.finish() }
        server.arrive(0)
        server.finish()
        #expect(server.takes.suffix(2) == [2, 0])
    }

    @Test func scansAreCoalescedWhileBusy() {
        var server = FakeServer(capacity: 16, available: [0, 0, 0])
        server.settle()  // covers on all three (normal 4), 10 slots unrequested
        server.arrive(1, count: 100)  // normal's cover takes 4, then a no-wait for the 10 free slots
        #expect(server.state.running == 14)
        server.sent.removeAll()
        server.finish()
        #expect(server.sent.isEmpty, "one free slot of 16 is not worth a scan while others run")
        for _ in 0..<3 { server.finish() }
        #expect(server.sent.map(\.level) == [1])
        #expect(server.sent.first?.batch == 4)
    }

    @Test func staleDeliveriesWaitForASlotInsteadOfExceedingTheCapacity() {
        var state = PriorityPullState(capacity: 1, levels: 3)
        let now = ContinuousClock.now
        let pull = state.nextPulls(now: now).first!
        #expect(pull.mode == .noWait && pull.level == 0)
        let expired = state.expire(now: now.advanced(by: .seconds(60)))
        #expect(expired == 1)
        let first = state.received(level: 0)
        #expect(first, "a free slot takes it")
        let second = state.received(level: 0)
        #expect(!second, "no slot: parked")
        #expect(state.parked == 1)
        let unparked = state.handlerFinished()
        #expect(unparked, "the parked one gets the slot")
        #expect(state.running == 1 && state.parked == 0)
    }

    @Test func aRefusedLevelIsLeftAloneForAWhile() {
        var state = PriorityPullState(capacity: 2, levels: 3)
        let now = ContinuousClock.now
        let first = state.nextPulls(now: now)
        #expect(first.map(\.level) == [0])
        let refused = state.ended(id: first[0].id, status: 409, now: now)
        #expect(refused == 0)
        var asked: [Int] = []
        var pulls = state.nextPulls(now: now)
        while !pulls.isEmpty {
            for pull in pulls {
                asked.append(pull.level)
                if pull.mode == .noWait { state.ended(id: pull.id, status: 404, now: now) }
            }
            pulls = state.nextPulls(now: now)
        }
        #expect(asked == [1, 2, 1, 2], "level 0 skipped; normal and low scanned, then covered")
        let later = now.advanced(by: .seconds(2))
        state.expire(now: later)
        let more = state.nextPulls(now: later)
        #expect(more.isEmpty, "no slot left while both covers are open")
    }

    @Test func neverRequestsBeyondTheCapacity() {
        var generator = SystemRandomNumberGenerator()
        for capacity in [1, 2, 3, 5, 16] {
            var server = FakeServer(capacity: capacity, available: [0, 0, 0])
            server.settle()
            for _ in 0..<400 {
                switch Int.random(in: 0..<10, using: &generator) {
                case 0..<4: server.arrive(Int.random(in: 0..<3, using: &generator))
                case 4..<8 where server.state.running > 0: server.finish()
                case 8:
                    // A long poll expires.
                    if let request = server.state.open.compactMap({ $0 }).first(where: { $0.mode != .noWait }) {
                        server.state.ended(id: request.id, status: 408, now: server.now)
                        server.settle()
                    }
                default: server.settle()
                }
                server.checkInvariant()
                #expect(server.state.openRequests <= 3)
            }
            // Whatever was published is eventually taken.
            while server.state.running > 0 { server.finish() }
            for level in 0..<3 where server.state.open[level]?.mode != .noWait {
                if let request = server.state.open[level] { server.state.ended(id: request.id, status: 408, now: server.now) }
            }
            server.settle()
            while server.state.running > 0 { server.finish() }
            #expect(server.available == [0, 0, 0])
        }
    }

    @Test func consumerNameComesFromTheAckSubject() {
        #expect(AckSubject("$JS.ACK.S.baton-echo-high.1.2.3.1700000000.0")?.consumer == "baton-echo-high")
        #expect(AckSubject("$JS.ACK.dom.acc.S.c-low.1.2.3.1700000000.0.tok")?.consumer == "c-low")
        #expect(AckSubject("_INBOX.x")?.consumer == nil)
    }

    @Test func ackSubjectGivesTheDeliveryMetadata() throws {
        let v1 = try #require(AckSubject("$JS.ACK.BATON_JOBS.baton-echo-high.3.1042.17.1700000000000000000.25"))
        #expect(v1.consumer == "baton-echo-high")
        #expect(v1.delivered == 3)
        #expect(v1.streamSequence == 1042)
        #expect(v1.pending == 25)
        let v2 = try #require(AckSubject("$JS.ACK.hub.ACCHASH.BATON_JOBS.c-low.1.7.7.1700000000000000000.0.r4nd"))
        #expect(v2.consumer == "c-low")
        #expect(v2.delivered == 1)
        #expect(v2.streamSequence == 7)
        #expect(v2.pending == 0)
        for bad in [
            "$JS.ACK.S.c.1.2.3.4", "$JS.ACK.S.c.1.2.3.4.5.6", "$JS.ACK.S.c.x.2.3.4.5", "$JS.ACK.S.c.1.-2.3.4.5",
            "$JS.ACK.S..1.2.3.4.5", "$JS.ACK.S.c.1.2.3.4.", "$JS.ACK.S.c.1.99999999999999999999.3.4.5", "$JS.NAK.S.c.1.2.3.4.5", "",
        ] {
            #expect(AckSubject(bad) == nil, "\(bad)")
        }
    }

    /// A draining puller hands parked messages back instead of starting them (`PullDriver`):
    /// their slots and the ended handlers' come back, so that it sees nothing running.
    @Test func aParkedMessageHandedBackGivesItsSlotBack() {
        var state = PriorityPullState(capacity: 1, levels: 1)
        let first = state.received(level: nil)
        let second = state.received(level: nil)
        #expect(first)
        #expect(!second, "beyond the capacity: parked")
        #expect(state.parked == 1)
        state.parkedHandedBack()
        state.handlerEnded()
        #expect(state.running == 0)
        #expect(state.parked == 0)
        #expect(state.free == 1)
    }
}
