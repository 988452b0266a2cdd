import BatonCore
import NIOCore

/// The status document of a job: its record plus links to follow it.
struct JobStatus: Encodable {
    var record: JobRecord

    /// Where a job's status is (`Location`).
    static func location(of id: String) -> String { "/v1/jobs/\(id)" }

    struct Links: Encodable {
        var `self`: String
        var result: String
    }

    /// This document as JSON, written by hand (`JobRecord.json(links:)`); `encode(to:)` gives
    /// the same bytes, for documents inside others (lists).
    func json() -> ByteBuffer {
        record.json(links: Self.location(of: record.id))
    }

    enum CodingKeys: String, CodingKey { case links }

    func encode(to encoder: any Encoder) throws {
        try record.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        let path = Self.location(of: record.id)
        try container.encode(Links(self: path, result: path + "/result"), forKey: .links)
    }
}
