import BatonCore
import BatonNATS
import NIOCore

/// How a job ended, as its answer entry in `baton-results` records it: the answer's body is the
/// entry's value, everything else travels in the entry's headers. One create-only write ends a
/// job, so the first end wins and every reader sees one answer and one state; the job's record
/// (`baton-jobs`) is not written again for it, and readers see the two merged
/// (`JobRecord.ended(with:)`).
public struct JobEnding: Sendable, Equatable {
    public var answer: JobAnswer
    public var state: JobState
    public var service: String?
    public var finishedAt: Timestamp
    /// When the job's first attempt started, and how many attempts there were (absent when it
    /// never started: cancelled or expired while queued).
    public var startedAt: Timestamp?
    public var attempts: Int?
    public var error: String?
    public var worker: String?
    /// The last progress the handler reported, when it reported any: its record may lag behind
    /// (progress writes are coalesced, and the end skips the one still pending).
    public var progress: JobProgress?
    /// Where the job came from, for a job whose record may never have been written (a call
    /// answered within its wait, `Baton-Record: headers`). Absent otherwise: the record says.
    public var origin: JobOrigin?

    public init(
        answer: JobAnswer, state: JobState, service: String? = nil, finishedAt: Timestamp = .now, startedAt: Timestamp? = nil,
        attempts: Int? = nil, error: String? = nil, worker: String? = nil, progress: JobProgress? = nil
    ) {
        self.answer = answer
        self.state = state
        self.service = service
        self.finishedAt = finishedAt
        self.startedAt = startedAt
        self.attempts = attempts
        self.error = error
        self.worker = worker
        self.progress = progress
    }

    /// The entry's headers (the answer's status and content type, and the end).
    public var headers: NATSHeaders {
        // Each name once: `add`, not the subscript's look-up of an existing field per name.
        var headers = answer.natsHeaders(jobID: nil, capacity: 14)
        headers.add(Headers.state, state.rawValue)
        headers.add(Headers.service, service)
        headers.add(Headers.finished, finishedAt.description)
        headers.add(Headers.started, startedAt?.description)
        headers.add(Headers.attempts, attempts.map(String.init))
        headers.add(Headers.error, error.map(Self.headerSafe))
        headers.add(Headers.worker, worker)
        headers.add(Headers.progress, progress?.percent.map { String($0) })
        headers.add(Headers.progressMessage, progress?.message.map(Self.headerSafe))
        if let origin {
            headers.add(Headers.created, origin.createdAt?.description)
            headers.add(Headers.owner, origin.owner)
            headers.add(Headers.priority, origin.priority?.rawValue)
        }
        return headers
    }

    /// Reads an answer entry. Entries written before endings were kept here carry only the
    /// answer and `Baton-State`; their records hold the rest.
    public init?(headers: NATSHeaders, body: ByteBuffer) {
        guard let state = headers[Headers.state].flatMap(JobState.init(rawValue:)), state.isTerminal else { return nil }
        self.init(
            answer: JobAnswer(headers: headers, body: body), state: state, service: headers[Headers.service],
            finishedAt: headers[Headers.finished].flatMap { Timestamp(rfc3339: $0) } ?? .now,
            startedAt: headers[Headers.started].flatMap { Timestamp(rfc3339: $0) },
            attempts: headers[Headers.attempts].flatMap { Int($0) },
            error: headers[Headers.error], worker: headers[Headers.worker],
            progress: Self.progress(percent: headers[Headers.progress], message: headers[Headers.progressMessage]))
        let origin = JobOrigin(
            createdAt: headers[Headers.created].flatMap { Timestamp(rfc3339: $0) }, owner: headers[Headers.owner],
            priority: headers[Headers.priority].flatMap(Priority.init(rawValue:)))
        self.origin = origin.isEmpty ? nil : origin
    }

    private static func progress(percent: String?, message: String?) -> JobProgress? {
        let percent = percent.flatMap { Double($0) }.flatMap { $0.isFinite ? $0 : nil }
        guard percent != nil || message != nil else { return nil }
        return JobProgress(percent: percent, message: message)
    }

    /// A header value: one line, at most 1,000 characters.
    static func headerSafe(_ text: String) -> String {
        String(text.prefix(1000)).replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
    }
}

/// Where a job came from — when and by whom it was created, at which priority — as the job's
/// headers say (`Baton-Created`, `Baton-Owner`, its subject's priority). A job's end carries
/// it when the job's record may never have been written, so that a read of the end alone
/// shows it (and, with API keys on, its owner may read it).
public struct JobOrigin: Sendable, Equatable {
    public var createdAt: Timestamp?
    public var owner: String?
    public var priority: Priority?

    public init(createdAt: Timestamp?, owner: String?, priority: Priority?) {
        self.createdAt = createdAt
        self.owner = owner
        self.priority = priority
    }

    var isEmpty: Bool { createdAt == nil && owner == nil && priority == nil }
}

extension JobRecord {
    /// The record as its readers see it once the job ended: state, status, times, attempts,
    /// error and worker from the ending. A record that is terminal already (a gateway that could
    /// not queue the job, or a writer of an earlier version) is kept as it is.
    public func ended(with ending: JobEnding?) -> JobRecord {
        guard let ending, !state.isTerminal else { return self }
        var record = self
        record.state = ending.state
        record.status = ending.answer.status
        record.finishedAt = ending.finishedAt
        record.updatedAt = max(updatedAt, ending.finishedAt)
        record.startedAt = startedAt ?? ending.startedAt
        if let attempts = ending.attempts { record.attempts = max(record.attempts, attempts) }
        if let worker = ending.worker { record.worker = worker }
        if ending.state == .succeeded {
            record.progress = JobProgress(percent: 100, message: ending.progress?.message ?? progress?.message)
            record.error = nil
        } else {
            record.progress = ending.progress ?? record.progress
            record.error = ending.error ?? record.error
        }
        return record
    }

    /// The record of a job known only by its ending (its record expired or was never written).
    public init(id: String, ending: JobEnding) {
        self.init(
            id: id, service: ending.service ?? "", lane: .durable, state: .queued,
            createdAt: ending.origin?.createdAt ?? ending.startedAt ?? ending.finishedAt)
        owner = ending.origin?.owner
        priority = ending.origin?.priority
        self = ended(with: ending)
    }
}

extension JobEnding {
    /// The end a client's cancel proposes: `cancelled`, answered with the `job-cancelled` problem.
    public static func cancelledByClient(_ id: String, service: String?) -> JobEnding {
        let problem = Problem.jobCancelled(id)
        return JobEnding(
            answer: JobAnswer(status: problem.statusCode, contentType: Problem.mediaType, body: problem.encoded()), state: .cancelled,
            service: service, error: "Cancelled by the client.")
    }
}
