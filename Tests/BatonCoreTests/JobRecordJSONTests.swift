import BatonCore
import Foundation
import NIOCore
import Testing

/// `JobRecord.json()` is written by hand for speed; these check it gives `JSONEncoder`'s bytes.
@Suite("job record JSON") struct JobRecordJSONTests {
    /// A record with every field set. A field added to `JobRecord` and left out of `json()`
    /// fails `everyFieldSet` (the encoder writes it, the writer does not).
    static var full: JobRecord {
        var record = JobRecord(id: "00cwpr111bkayqe9tk7atew22q", service: "resize", lane: .durable, state: .failed, createdAt: Timestamp(milliseconds: 1_764_000_000_123))
        record.progress = JobProgress(percent: 37.5, message: "step 3/8")
        record.startedAt = Timestamp(milliseconds: 1_764_000_001_000)
        record.finishedAt = Timestamp(milliseconds: 1_764_000_002_999)
        record.updatedAt = Timestamp(milliseconds: 1_764_000_003_001)
        record.attempts = 3
        record.status = 500
        record.error = "boom"
        record.worker = "worker-1"
        record.deadline = Timestamp(milliseconds: 1_764_000_100_000)
        var webhook = WebhookStatus(url: "https://example.com/hooks/baton?x=1&y=/z", state: .failed, holdUntil: Timestamp(milliseconds: 1_764_000_005_000))
        webhook.attempts = 5
        webhook.lastError = "HTTP 503"
        webhook.deliveredAt = Timestamp(milliseconds: 1_764_000_006_000)
        record.webhook = webhook
        record.owner = "team-a"
        record.priority = .high
        record.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        record.replayOf = "00cwpr111bkayqe9tk7atew22r"
        record.queuedAs = "01cwpr111bkayqe9tk7atew22r"
        record.queueSequence = 18_446_744_073_709_551_615
        record.publishing = true
        return record
    }

    static func encoded(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func written(_ record: JobRecord, links: String? = nil) -> String {
        String(buffer: record.json(links: links))
    }

    @Test func everyFieldSet() throws {
        #expect(Self.written(Self.full) == (try Self.encoded(Self.full)))
    }

    @Test func aStrandedRecordIsOneMadeBeforeItsPublishThatNoOneSawStored() {
        let made = Timestamp(milliseconds: 1_764_000_000_000)
        var record = JobRecord(id: "abc", service: "echo", lane: .durable, createdAt: made)
        record.publishing = true
        let later = made.adding(.seconds(61))
        #expect(record.isStranded(now: later))
        #expect(!record.isStranded(now: made.adding(.seconds(59))))
        var confirmed = record
        confirmed.publishing = nil
        #expect(!confirmed.isStranded(now: later))
        var retried = record  // handed back after an attempt: queued again, by a worker
        retried.attempts = 1
        #expect(!retried.isStranded(now: later))
        var started = record
        started.state = .running
        #expect(!started.isStranded(now: later))
    }

    @Test func optionalFieldsLeftOut() throws {
        let record = JobRecord(id: "abc", service: "echo", lane: .fast, createdAt: Timestamp(milliseconds: 0))
        #expect(Self.written(record) == (try Self.encoded(record)))
        #expect(Self.written(record).contains("null") == false)
    }

    @Test(arguments: [
        "plain", "quote \" and backslash \\", "slash / stays", "line\nbreak\ttab\r\u{08}\u{0C}", "controls \u{01}\u{1F}\u{7F}",
        "unicode é ✓ 𝄞", "\u{2028}\u{2029}", "",
    ])
    func stringsEscapedAsTheEncoderDoes(_ text: String) throws {
        var record = Self.full
        record.error = text
        record.progress = JobProgress(percent: nil, message: text)
        #expect(Self.written(record) == (try Self.encoded(record)))
    }

    @Test(arguments: [0.0, 50.0, 100.0, 12.5, 0.1, 33.333333333333336, 99.99])
    func percentsWrittenAsTheEncoderDoes(_ percent: Double) throws {
        var record = Self.full
        record.progress = JobProgress(percent: percent, message: nil)
        #expect(Self.written(record) == (try Self.encoded(record)))
    }

    /// The status document (`links` merged into the record, keys sorted with the rest).
    @Test func withLinks() throws {
        struct Status: Encodable {
            var record: JobRecord
            struct Links: Encodable { var `self`: String; var result: String }
            enum CodingKeys: String, CodingKey { case links }
            func encode(to encoder: any Encoder) throws {
                try record.encode(to: encoder)
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(Links(self: "/v1/jobs/\(record.id)", result: "/v1/jobs/\(record.id)/result"), forKey: .links)
            }
        }
        let record = Self.full
        #expect(Self.written(record, links: "/v1/jobs/\(record.id)") == (try Self.encoded(Status(record: record))))
    }

    @Test func decodesBack() throws {
        #expect(try JSON.decode(JobRecord.self, from: Self.full.json()) == Self.full)
    }
}
