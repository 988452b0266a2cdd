import Foundation
import NIOCore

/// An RFC 9457 problem document (`application/problem+json`).
public struct Problem: Error, Sendable, Codable, Equatable {
    public static let mediaType = "application/problem+json"

    /// A URI naming the problem kind (relative: documented in the README).
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?
    /// The job this problem is about, if any.
    public var jobID: String?
    /// Seconds for a `Retry-After` header (not part of the document).
    public var retryAfter: Int? = nil

    public init(type: String, title: String, status: Int, detail: String? = nil, jobID: String? = nil) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.jobID = jobID
    }

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail
        case jobID = "job_id"
    }

    public func encoded() -> ByteBuffer {
        (try? JSON.encode(self)) ?? ByteBuffer(string: #"{"title":"\#(title)","status":\#(status)}"#)
    }
}

extension Problem {
    public static func notFound(_ detail: String) -> Problem {
        Problem(type: "/problems/not-found", title: "Not Found", status: 404, detail: detail)
    }

    public static func unknownService(_ name: String) -> Problem {
        Problem(type: "/problems/unknown-service", title: "Unknown service", status: 404,
                detail: "No worker has registered a service named '\(name)'.")
    }

    public static func unknownJob(_ id: String) -> Problem {
        Problem(type: "/problems/unknown-job", title: "Unknown job", status: 404,
                detail: "There is no job '\(id)' (it never existed, or its retention ended).")
    }

    public static func invalidJobID(_ id: String) -> Problem {
        Problem(type: "/problems/invalid-job-id", title: "Invalid job id", status: 400,
                detail: "'\(id.prefix(64))' is not a Baton job id (26 characters of lowercase Crockford base32).")
    }

    public static func invalidServiceName(_ name: String) -> Problem {
        Problem(type: "/problems/invalid-service-name", title: "Invalid service name", status: 400,
                detail: "Service names are 1-64 characters of letters, digits, '_' and '-'.")
    }

    public static func bodyTooLarge(limit: Int) -> Problem {
        Problem(type: "/problems/body-too-large", title: "Request body too large", status: 413,
                detail: "The request body exceeds the limit of \(limit) bytes.")
    }

    public static func unknownDeadLetter(_ sequence: String) -> Problem {
        Problem(type: "/problems/unknown-dead-letter", title: "Unknown dead letter", status: 404,
                detail: "There is no dead letter '\(sequence)' (it never existed, or its retention ended).")
    }

    public static func badRequest(_ detail: String) -> Problem {
        Problem(type: "/problems/bad-request", title: "Bad Request", status: 400, detail: detail)
    }

    public static func noWorkers(_ service: String) -> Problem {
        var problem = Problem(type: "/problems/no-workers", title: "No worker available", status: 503,
                              detail: "No worker of the fast-lane service '\(service)' is running; retry later.")
        problem.retryAfter = 1
        return problem
    }

    public static func unavailable(_ detail: String) -> Problem {
        var problem = Problem(type: "/problems/unavailable", title: "Service Unavailable", status: 503, detail: detail)
        problem.retryAfter = 1
        return problem
    }

    /// The service's queue holds `--max-queued` jobs already.
    public static func queueFull(_ service: String, retryAfter: Int) -> Problem {
        var problem = Problem(type: "/problems/queue-full", title: "Queue full", status: 503,
                              detail: "The queue of service '\(service)' is full; retry later.")
        problem.retryAfter = retryAfter
        return problem
    }

    public static func internalError(_ detail: String) -> Problem {
        Problem(type: "/problems/internal", title: "Internal Server Error", status: 500, detail: detail)
    }

    /// The answer of a cancelled job.
    public static func jobCancelled(_ id: String) -> Problem {
        Problem(type: "/problems/job-cancelled", title: "Job cancelled", status: 409,
                detail: "Job \(id) was cancelled before it finished.", jobID: id)
    }

    /// The answer of a job whose deadline passed before it started.
    public static func jobExpired(_ id: String) -> Problem {
        Problem(type: "/problems/job-expired", title: "Job expired", status: 504,
                detail: "Job \(id) reached its deadline before a worker started it; it was not run.", jobID: id)
    }

    /// The answer of a job whose handler failed.
    public static func jobFailed(status: Int, message: String, jobID: String) -> Problem {
        Problem(type: "/problems/job-failed", title: "Job failed", status: status, detail: message, jobID: jobID)
    }
}

/// JSON encoding and decoding in one place (sorted keys, unescaped slashes).
public enum JSON {
    public static func encode<T: Encodable>(_ value: T) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ByteBuffer(data: try encoder.encode(value))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
    }
}

extension ByteBuffer {
    init(data: Data) {
        self = ByteBufferAllocator().buffer(capacity: data.count)
        self.writeBytes(data)
    }
}
