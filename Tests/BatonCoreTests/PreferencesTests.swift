import BatonCore
import Foundation
import Testing

@Suite struct PreferencesTests {
    @Test func respondAsyncAndWait() {
        let p = Preferences(headerValues: ["respond-async, wait=10"])
        #expect(p.respondAsync)
        #expect(p.wait == 10)
    }

    @Test func namesAreCaseInsensitiveAndFieldsMerge() {
        let p = Preferences(headerValues: ["Respond-Async", "WAIT=5"])
        #expect(p.respondAsync)
        #expect(p.wait == 5)
    }

    @Test func firstOccurrenceWins() {
        #expect(Preferences(headerValues: ["wait=3, wait=9"]).wait == 3)
    }

    @Test func unknownAndMalformedPreferencesAreIgnored() {
        let p = Preferences(headerValues: ["handling=lenient, wait=abc, foo; bar=\"x,y\", return=minimal"])
        #expect(p == Preferences())
        #expect(Preferences(headerValues: ["wait=-1"]).wait == nil)
    }

    @Test func parametersAndQuotedValues() {
        let p = Preferences(headerValues: [#"wait="7"; foo=bar, priority=HIGH"#])
        #expect(p.wait == 7)
        #expect(p.priority == .high)
    }

    @Test func whiteSpaceQuotesAndCommasInsideQuotes() {
        let p = Preferences(headerValues: ["\t foo=\"a,b;c\" ;x=1 ,\tWait = \" 12 \" , PRIORITY=\"Low\";q", "respond-async;x=\"y,z\""])
        #expect(p.wait == nil)  // `" 12 "`: not a number
        #expect(p.priority == .low)
        #expect(p.respondAsync)
        #expect(Preferences(headerValues: ["wait = 4 "]).wait == 4)
        #expect(Preferences(headerValues: [#"wait="#, "wait=6"]).wait == nil)  // the first, empty, wins
        #expect(Preferences(headerValues: ["=5, respond-async-x, respond"]) == Preferences())
        #expect(Preferences(headerValues: ["priority=urgent, priority=high"]).priority == nil)
        #expect(Preferences(headerValues: ["wait=99999999999999999999999"]).wait == nil)
        #expect(Preferences(headerValues: ["wait=½"]).wait == nil)
    }

    @Test func emptyHeader() {
        #expect(Preferences(headerValues: []) == Preferences())
        #expect(Preferences(headerValues: [" , ,"]) == Preferences())
    }
}

@Suite struct IdentifierTests {
    @Test func jobIDsAreValidUniqueAndLongEnough() {
        let ids = (0..<10_000).map { _ in JobID.make() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { JobID.isValid($0) && $0.count == 26 })
    }

    @Test func invalidJobIDs() {
        for bad in ["", "abc", String(repeating: "A", count: 26), String(repeating: "i", count: 26), "../../etc/passwd0000000000", String(repeating: "0", count: 27)] {
            #expect(!JobID.isValid(bad), "\(bad)")
        }
        // Exactly the 32 characters of the alphabet are accepted, in any position.
        let alphabet = Set("0123456789abcdefghjkmnpqrstvwxyz".unicodeScalars)
        for value in UInt8(0)..<128 {
            let scalar = Unicode.Scalar(value)
            for position in [0, 13, 25] {
                var id = Array(repeating: Character("0"), count: 26)
                id[position] = Character(scalar)
                #expect(JobID.isValid(String(id)) == alphabet.contains(scalar), "\(value) at \(position)")
            }
        }
    }

    @Test func serviceNames() {
        #expect(ServiceName.isValid("echo"))
        #expect(ServiceName.isValid("echo-fast_2"))
        for bad in ["", "a.b", "a b", "a>", "*", String(repeating: "x", count: 65), "é"] {
            #expect(!ServiceName.isValid(bad), "\(bad)")
        }
    }

    @Test func subjects() {
        #expect(Subjects.job(service: "echo") == "baton.jobs.echo.normal")
        #expect(Subjects.fast(service: "echo") == "baton.svc.echo")
        #expect(Subjects.progress(service: "slow", job: "j") == "baton.progress.slow.j")
        #expect(Subjects.done(service: "slow", job: "j") == "baton.done.slow.j")
        #expect(Subjects.cancel(job: "j") == "baton.cancel.j")
        for priority in Priority.allCases {
            #expect(Subjects.priority(ofJob: Subjects.job(service: "echo", priority: priority)) == priority)
        }
        #expect(Subjects.priority(ofJob: "baton.jobs.echo.urgent") == nil)
    }
}

@Suite struct TimestampTests {
    @Test func rfc3339RoundTrip() throws {
        let t = Timestamp(milliseconds: 1_795_462_388_123)
        #expect(t.description == "2026-11-23T19:33:08.123Z")
        #expect(Timestamp(rfc3339: t.description) == t)
        #expect(Timestamp(rfc3339: "2026-11-23T19:33:08Z") == Timestamp(milliseconds: 1_795_462_388_000))
        #expect(Timestamp(rfc3339: "2026-11-23 19:33:08Z") == nil)
        #expect(Timestamp(rfc3339: "yesterday") == nil)
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_764_000_000_123, "2025-11-24T16:00:00.123Z"),
        (951_782_400_007, "2000-02-29T00:00:00.007Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ])
    func writesUTCWithMilliseconds(milliseconds: Int64, text: String) {
        #expect(Timestamp(milliseconds: milliseconds).description == text)
    }

    @Test func parsesWhatItWrites() {
        for _ in 0..<1_000 {
            let time = Timestamp(milliseconds: Int64.random(in: 0...4_102_444_799_999))
            #expect(Timestamp(rfc3339: time.description) == time, "\(time.milliseconds)")
        }
    }

    /// The calendar arithmetic agrees with glibc's `gmtime_r` and `timegm`, before 1970 too.
    @Test func agreesWithTheCLibrary() {
        for _ in 0..<2_000 {
            let milliseconds = Int64.random(in: -2_208_988_800_000...253_402_300_799_999)  // 1900 ... 9999
            var seconds = time_t(milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            let text = Timestamp(milliseconds: milliseconds).description
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                parts.tm_hour, parts.tm_min, parts.tm_sec)
            #expect(text.hasPrefix(expected), "\(milliseconds)")
            #expect(Timestamp(rfc3339: text)?.milliseconds == milliseconds, "\(text)")
            #expect(Int64(timegm(&parts)) == Int64(seconds))
        }
    }

    @Test(arguments: [
        "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00.1x2Z", "2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00", "２０26-01-01T00:00:00Z",
    ])
    func rejectsWhatIsNotATime(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func readsTheFractionToMilliseconds() {
        #expect(Timestamp(rfc3339: "2024-02-29T12:00:00.5Z")?.description == "2024-02-29T12:00:00.500Z")
        #expect(Timestamp(rfc3339: "2024-02-29T12:00:00.123456789Z")?.description == "2024-02-29T12:00:00.123Z")
    }

    @Test func recordJSONRoundTrip() throws {
        var record = JobRecord(id: JobID.make(), service: "echo", lane: .durable)
        record.progress = JobProgress(percent: 50, message: "half")
        let decoded = try JSON.decode(JobRecord.self, from: JSON.encode(record))
        #expect(decoded == record)
    }
}
