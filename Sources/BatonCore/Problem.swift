import NIOCore

/// An RFC 9457 problem document (`application/problem+json`).
///
/// Every kind of problem is a named member of the catalogue below, the one place that spells
/// types, titles and details (the README's table describes them for clients); the gateway
/// renders a thrown `Problem` as its response (`Problem+HTTPResponseError`).
public struct Problem: Error, Sendable, Codable, Equatable {
    public static let mediaType = "application/problem+json"

    /// A URI naming the problem kind (relative: documented in the README).
    public var type: String
    public var title: String
    /// The document's `status` (named apart from it so that the gateway's `HTTPResponseError`
    /// conformance can have a `status` of Hummingbird's type).
    public var statusCode: Int
    public var detail: String?
    /// The job this problem is about, if any.
    public var jobID: String?
    /// Seconds for a `Retry-After` header (not part of the document).
    public var retryAfter: Int? = nil

    /// Internal: a new kind of problem is a new member of the catalogue.
    init(type: String, title: String, status: Int, detail: String? = nil, jobID: String? = nil, retryAfter: Int? = nil) {
        self.type = type
        self.title = title
        self.statusCode = status
        self.detail = detail
        self.jobID = jobID
        self.retryAfter = retryAfter
    }

    enum CodingKeys: String, CodingKey {
        case type, title, detail
        case statusCode = "status"
        case jobID = "job_id"
    }

    public func encoded() -> ByteBuffer {
        (try? JSON.encode(self)) ?? ByteBuffer(string: #"{"title":"\#(title)","status":\#(statusCode)}"#)
    }
}

// MARK: - The request

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

    /// A body over the gateway's `--max-body`; without a limit when the body was refused
    /// before the route knew it (Hummingbird's `NIOTooManyBytesError`).
    public static func bodyTooLarge(limit: Int? = nil) -> Problem {
        Problem(type: "/problems/body-too-large", title: "Request body too large", status: 413,
                detail: limit.map { "The request body exceeds the limit of \($0) bytes." })
    }

    public static func unknownDeadLetter(_ sequence: String) -> Problem {
        Problem(type: "/problems/unknown-dead-letter", title: "Unknown dead letter", status: 404,
                detail: "There is no dead letter '\(sequence)' (it never existed, or its retention ended).")
    }

    public static func badRequest(_ detail: String) -> Problem {
        Problem(type: "/problems/bad-request", title: "Bad Request", status: 400, detail: detail)
    }

    /// A request the HTTP/1.1 parser refused; `reason` says what it found (a bad request line,
    /// header or chunk).
    public static func malformedRequest(_ reason: String) -> Problem {
        badRequest("The request is not well-formed HTTP/1.1: \(reason).")
    }

    /// Header fields over the gateway's HTTP/1.1 decoder limits (Hummingbird's defaults).
    public static let headerFieldsTooLarge = http(
        431, title: "Request Header Fields Too Large", detail: "The request's header fields exceed the gateway's limits (80 KiB, 1,000 fields).")

    /// `Callback-Url` on a gateway without a webhook secret (every gateway of a deployment
    /// shares it, so without one no gateway could sign the deliveries).
    public static let webhooksDisabled = Problem(
        type: "/problems/webhooks-disabled", title: "Webhooks are not configured", status: 400,
        detail: "This gateway has no webhook secret (--webhook-secret); Callback-Url cannot be used.")

    /// A `Callback-Url` the webhook policy refuses; `detail` says why.
    public static func invalidCallbackURL(_ detail: String) -> Problem {
        Problem(type: "/problems/invalid-callback-url", title: "Invalid Callback-Url", status: 400, detail: detail)
    }

    /// An `Idempotency-Key` that `job` claimed for a different request (service, content type or body).
    public static func idempotencyKeyReused(_ key: String, job: String) -> Problem {
        Problem(type: "/problems/idempotency-key-reused", title: "Idempotency key reused", status: 422,
                detail: "Idempotency-Key '\(key.prefix(64))' was used for a different request (service, content type or body differ).",
                jobID: job)
    }

    /// A `GET /v1/jobs/{id}/result` of a job that ended without an answer entry.
    public static func noResult(_ id: String, state: JobState) -> Problem {
        Problem(type: "/problems/no-result", title: "No result", status: 404,
                detail: "Job \(id) ended \(state.rawValue) without an answer.", jobID: id)
    }

    /// A `DELETE` of a job that had ended (in `state`).
    public static func jobEnded(_ id: String, state: JobState) -> Problem {
        Problem(type: "/problems/job-ended", title: "Job already ended", status: 409,
                detail: "Job \(id) already ended (\(state.rawValue)); it cannot be cancelled.", jobID: id)
    }

    /// An HTTP error of Hummingbird's with no problem type of its own (`/problems/http-<status>`).
    public static func http(_ status: Int, title: String, detail: String? = nil) -> Problem {
        Problem(type: "/problems/http-\(status)", title: title, status: status, detail: detail)
    }
}

// MARK: - Access

extension Problem {
    /// API keys are on and the request has none, or an unknown one.
    public static let unauthorized = Problem(
        type: "/problems/unauthorized", title: "Unauthorized", status: 401,
        detail: "This gateway needs an API key: Authorization: Bearer <key>.")

    /// The key `name` is over its `rate` (requests/s); it may call again in `retryAfter` seconds.
    public static func rateLimited(key name: String, rate: Double, retryAfter seconds: Int) -> Problem {
        Problem(type: "/problems/rate-limited", title: "Too Many Requests", status: 429,
                detail: "The rate limit of key '\(name)' is \(rate) requests/s; retry in \(seconds) s.", retryAfter: seconds)
    }
}

// MARK: - Availability

extension Problem {
    public static func noWorkers(_ service: String) -> Problem {
        Problem(type: "/problems/no-workers", title: "No worker available", status: 503,
                detail: "No worker of the fast-lane service '\(service)' is running; retry later.", retryAfter: 1)
    }

    /// No fast-lane worker of `service` answered within `--fast-lane-timeout`, while the client
    /// still waited (its job was never recorded).
    public static func noAnswer(service: String) -> Problem {
        Problem(type: "/problems/no-answer", title: "No answer", status: 504,
                detail: "No fast-lane worker of '\(service)' answered.")
    }

    /// The answer stored for fast-lane job `id` when no worker answered within
    /// `--fast-lane-timeout`, after its client got a `202`.
    public static func noAnswer(job id: String) -> Problem {
        Problem(type: "/problems/no-answer", title: "No answer", status: 504, detail: "No fast-lane worker answered in time.", jobID: id)
    }

    public static func unavailable(_ detail: String) -> Problem {
        Problem(type: "/problems/unavailable", title: "Service Unavailable", status: 503, detail: detail, retryAfter: 1)
    }

    /// The service's queue holds `--max-queued` jobs already.
    public static func queueFull(_ service: String, retryAfter: Int) -> Problem {
        Problem(type: "/problems/queue-full", title: "Queue full", status: 503,
                detail: "The queue of service '\(service)' is full; retry later.", retryAfter: retryAfter)
    }

    public static func internalError(_ detail: String) -> Problem {
        Problem(type: "/problems/internal", title: "Internal Server Error", status: 500, detail: detail)
    }
}

// MARK: - Job answers

extension Problem {
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
