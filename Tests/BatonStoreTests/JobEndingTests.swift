import BatonCore
import BatonNATS
import BatonStore
import NIOCore
import Testing

@Suite("job endings") struct JobEndingTests {
    let answer = JobAnswer(status: 503, contentType: "application/problem+json", body: ByteBuffer(string: #"{"title":"x"}"#))

    @Test func anEndingTravelsInTheAnswerEntrysHeaders() throws {
        let ending = JobEnding(
            answer: answer, state: .failed, service: "echo", finishedAt: Timestamp(rfc3339: "2026-12-02T08:00:01.500Z")!,
            startedAt: Timestamp(rfc3339: "2026-12-02T08:00:00.250Z")!, attempts: 3, error: "line one\r\nline two", worker: "w-1",
            progress: JobProgress(percent: 200.0 / 3, message: "step 2\nof 3"))
        let read = try #require(JobEnding(headers: ending.headers, body: answer.body))
        var expected = ending
        expected.error = "line one  line two"  // one header line
        expected.progress?.message = "step 2 of 3"
        #expect(read == expected)
        // Either half of the progress alone; none at all is no header.
        for progress in [JobProgress(percent: 5), JobProgress(message: "started")] {
            let alone = JobEnding(answer: answer, state: .failed, progress: progress)
            #expect(JobEnding(headers: alone.headers, body: answer.body)?.progress == progress)
        }
        #expect(JobEnding(answer: answer, state: .failed).headers["Baton-Progress"] == nil)
        var bad = ending.headers
        bad["Baton-Progress"] = "nan"
        bad["Baton-Progress-Message"] = nil
        #expect(JobEnding(headers: bad, body: answer.body)?.progress == nil)
        #expect(ending.headers["Baton-State"] == "failed")
        #expect(ending.headers["Baton-Status"] == "503")
    }

    /// A call answered within its wait has no record: its end carries where it came from, and
    /// a read of the end alone shows it (with API keys on, the owner check needs `owner`).
    @Test func anEndCarriesTheOriginOfAJobWithoutARecord() throws {
        let created = Timestamp(rfc3339: "2026-12-02T07:59:59.125Z")!
        var ending = JobEnding(
            answer: answer, state: .succeeded, service: "echo", startedAt: Timestamp(rfc3339: "2026-12-02T08:00:00.250Z")!,
            attempts: 1, worker: "w-1")
        #expect(ending.headers["Baton-Created"] == nil, "no origin, no headers")
        ending.origin = JobOrigin(createdAt: created, owner: "alice", priority: .high)
        let read = try #require(JobEnding(headers: ending.headers, body: answer.body))
        #expect(read.origin == ending.origin)
        let record = JobRecord(id: JobID.make(), ending: read)
        #expect(record.createdAt == created)
        #expect(record.owner == "alice")
        #expect(record.priority == .high)
        #expect(record.state == .succeeded)
        // An end without one (a worker of the previous revision): created when it started.
        let bare = JobRecord(id: JobID.make(), ending: JobEnding(answer: answer, state: .succeeded, startedAt: ending.startedAt))
        #expect(bare.createdAt == ending.startedAt)
        #expect(bare.owner == nil)
        #expect(JobEnding(headers: JobEnding(answer: answer, state: .failed).headers, body: answer.body)?.origin == nil)
    }

    @Test func anAnswerEntryWithoutATerminalStateIsNoEnding() {
        #expect(JobEnding(headers: answer.natsHeaders(jobID: nil), body: answer.body) == nil)
        var headers = answer.natsHeaders(jobID: nil)
        headers["Baton-State"] = "running"
        #expect(JobEnding(headers: headers, body: answer.body) == nil)
    }

    @Test func readersSeeTheRecordEndedByItsAnswer() {
        var record = JobRecord(id: JobID.make(), service: "echo", lane: .durable, state: .running)
        record.attempts = 1
        record.progress = JobProgress(percent: 40, message: "halfway")
        record.webhook = WebhookStatus(url: "https://example.com/hook", state: .pending)
        let started = Timestamp(rfc3339: "2026-12-02T08:00:00.000Z")!
        let ok = JobEnding(answer: JobAnswer(status: 200), state: .succeeded, startedAt: started, attempts: 2, worker: "w-2")
        let ended = record.ended(with: ok)
        #expect(ended.state == .succeeded)
        #expect(ended.status == 200)
        #expect(ended.attempts == 2)
        #expect(ended.startedAt == started)
        #expect(ended.worker == "w-2")
        #expect(ended.progress == JobProgress(percent: 100, message: "halfway"))
        #expect(ended.webhook == record.webhook)
        #expect(ended.finishedAt == ok.finishedAt)

        let failed = record.ended(with: JobEnding(answer: answer, state: .failed, error: "boom"))
        #expect(failed.error == "boom")
        #expect(failed.progress == record.progress)
        #expect(record.ended(with: nil) == record)

        // The last report, which the record did not get (writes are coalesced), wins: a job
        // that succeeded does not show "step 2 of 3" at 100 %.
        let reported = JobProgress(percent: 100, message: "step 3 of 3")
        #expect(record.ended(with: JobEnding(answer: JobAnswer(status: 200), state: .succeeded, progress: JobProgress(message: "step 3 of 3"))).progress == reported)
        let late = JobProgress(percent: 60, message: "three fifths")
        #expect(record.ended(with: JobEnding(answer: answer, state: .failed, error: "boom", progress: late)).progress == late)
    }

    /// A record a gateway marked terminal itself (not queued), or one an earlier version ended,
    /// is kept as it is.
    @Test func aTerminalRecordKeepsItsOwnEnd() {
        var record = JobRecord(id: JobID.make(), service: "echo", lane: .durable, state: .failed)
        record.error = "Not queued: the queue was full."
        #expect(record.ended(with: JobEnding(answer: JobAnswer(status: 200), state: .succeeded)) == record)
    }

    @Test func aJobKnownOnlyByItsEnding() {
        let id = JobID.make()
        let ending = JobEnding(answer: answer, state: .cancelled, service: "slow", error: "Cancelled by the client.")
        let record = JobRecord(id: id, ending: ending)
        #expect(record.id == id)
        #expect(record.service == "slow")
        #expect(record.state == .cancelled)
        #expect(record.status == 503)
        #expect(record.error == "Cancelled by the client.")
    }
}
