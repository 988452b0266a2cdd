import Testing
@testable import BatonWebhooks

@Suite struct RetryScheduleTests {
    @Test func standard() throws {
        let schedule = RetrySchedule.standard
        #expect(schedule.maxAttempts == 8)
        #expect(schedule.description == "5s,5m,30m,2h,5h,10h,10h")
        #expect(try RetrySchedule(parsing: schedule.description) == schedule)
    }

    @Test func parsing() throws {
        #expect(try RetrySchedule(parsing: "5s,5m,30m,2h").delays == [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200)])
        #expect(try RetrySchedule(parsing: "100ms,200ms").delays == [.milliseconds(100), .milliseconds(200)])
        #expect(try RetrySchedule(parsing: " 1s , 2s ").delays == [.seconds(1), .seconds(2)])
        #expect(try RetrySchedule(parsing: "none").delays == [])
        #expect(try RetrySchedule(parsing: "").maxAttempts == 1)
        #expect(try RetrySchedule(parsing: "1500ms,60s,120m").description == "1500ms,1m,2h")
        for bad in ["5", "s", "5x", "5 s", "-5s", "1.5s", "5s,", ",5s", "5s;5m", "5S", "１s"] {
            #expect(throws: WebhookError.self) { try RetrySchedule(parsing: bad) }
        }
    }

    @Test func roundTrip() throws {
        for text in ["100ms,200ms", "1s", "0s,1h", "90s,36h", "none"] {
            #expect(try RetrySchedule(parsing: text).description == text)
        }
        let odd = RetrySchedule(delays: [.milliseconds(1500), .seconds(61), .microseconds(2500)])
        #expect(try RetrySchedule(parsing: odd.description).delays == [.milliseconds(1500), .seconds(61), .milliseconds(3)])
    }

    @Test func delaysAndJitter() {
        let schedule = RetrySchedule(delays: [.seconds(10), .seconds(100)])
        #expect(schedule.delay(afterAttempt: 0) == nil)
        #expect(schedule.delay(afterAttempt: 3) == nil)
        var seen: Set<Duration> = []
        for _ in 0..<500 {
            let first = schedule.delay(afterAttempt: 1)
            let second = schedule.delay(afterAttempt: 2)
            #expect(first.map { $0 >= .seconds(9) && $0 <= .seconds(11) } == true)
            #expect(second.map { $0 >= .seconds(90) && $0 <= .seconds(110) } == true)
            if let first { seen.insert(first) }
        }
        #expect(seen.count > 100)  // Actually jittered.
    }
}
