import BatonCore
import BatonNATS
import Hummingbird

/// Which dead letters a `GET /v1/dead-letters` asks for, and how they are read from
/// `BATON_DLQ`.
///
/// Oldest first walks the stream forwards with direct gets by subject (`next_by_subj`), so a
/// `job` filter costs one read per dead letter of that job. Newest first reads it backwards a
/// window of sequences at a time (`window` direct gets in flight; the stream loses entries
/// only at its head, by age, so its sequences are dense). Either stops after `scanLimit`
/// stored entries looked at: a filter that matches rarely (a job, or the caller's own dead
/// letters with API keys) answers a short page with `next`, not a scan of the whole stream.
struct DeadLetterQuery: Sendable, Equatable {
    enum Order: String, Sendable {
        case oldest, newest
    }

    var order = Order.oldest
    /// Oldest first: start after this sequence; newest first: start below it.
    var position: UInt64?
    var job: String?
    /// With API keys, only the dead letters of this caller's jobs.
    var owner: String?
    var limit = Self.defaultLimit

    static let defaultLimit = 100
    static let maxLimit = 1000
    static let scanLimit = 2_000
    static let window: UInt64 = 32

    init() {}

    /// Reads the query string; bad values are `400` problems.
    init(_ parameters: Parameters) throws {
        if let order = parameters["order"] {
            guard let known = Order(rawValue: String(order)) else { throw Problem.badRequest("'order' must be oldest or newest.") }
            self.order = known
        }
        let after = parameters["after"].map(String.init)
        let before = parameters["before"].map(String.init)
        if let after {
            guard order == .oldest, before == nil else { throw Self.mixedOrders }
            guard let sequence = UInt64(after), sequence < UInt64(Int64.max) else { throw Problem.badRequest("'after' must be a sequence number.") }
            position = sequence
        }
        if let before {
            guard parameters["order"] == nil || order == .newest else { throw Self.mixedOrders }
            guard let sequence = UInt64(before), (1..<UInt64(Int64.max)).contains(sequence) else {
                throw Problem.badRequest("'before' must be a sequence number.")
            }
            order = .newest
            position = sequence
        }
        if let job = parameters["job"].map(String.init) {
            guard JobID.isValid(job) else { throw Problem.badRequest("'job' is not a job id.") }
            self.job = job
        }
        if let limit = try listLimit(parameters["limit"], max: Self.maxLimit) { self.limit = limit }
    }

    static let mixedOrders = Problem.badRequest("'after' pages the oldest-first order; 'before' the newest-first.")

    /// The `next` link of a page that stopped at `position`.
    func link(from position: UInt64) -> String {
        var items = order == .newest ? ["order=newest", "before=\(position)"] : ["after=\(position)"]
        if let job { items.append("job=\(job)") }
        items.append("limit=\(limit)")
        return "/v1/dead-letters?" + items.joined(separator: "&")
    }

    /// The dead letters of this page in its order, and where the next page starts (nil when
    /// the stream holds no more).
    func read(_ jetStream: JetStream) async throws -> (messages: [StoredMessage], next: UInt64?) {
        switch order {
        case .oldest: try await readForwards(jetStream)
        case .newest: try await readBackwards(jetStream)
        }
    }

    func matches(_ message: StoredMessage) -> Bool {
        if let owner, message.headers[Headers.owner] != owner { return false }
        if let job, message.headers[Headers.jobID] != job { return false }
        return true
    }

    private func readForwards(_ jetStream: JetStream) async throws -> (messages: [StoredMessage], next: UInt64?) {
        let subject = job.map(Subjects.deadLetters(job:)) ?? Subjects.allDeadLetters
        var found: [StoredMessage] = []
        var sequence = (position ?? 0) + 1
        var scanned = 0
        while found.count < limit, scanned < Self.scanLimit,
            let message = try await jetStream.firstMessage(in: Streams.deadLetters, matching: subject, from: sequence)
        {
            sequence = message.sequence + 1
            scanned += 1
            if matches(message) { found.append(message) }
        }
        return (found, found.count == limit || scanned == Self.scanLimit ? sequence - 1 : nil)
    }

    private func readBackwards(_ jetStream: JetStream) async throws -> (messages: [StoredMessage], next: UInt64?) {
        guard let (first, last) = try await jetStream.streamSequences(Streams.deadLetters) else { return ([], nil) }
        let lowest = max(first, 1)
        var sequence = min(position.map { $0 - 1 } ?? last, last)  // the next one to read
        guard sequence >= lowest else { return ([], nil) }
        var found: [StoredMessage] = []
        var scanned = 0
        while scanned < Self.scanLimit {
            let through = sequence - min(Self.window - 1, sequence - lowest)
            let messages = try await withThrowingTaskGroup(of: StoredMessage?.self) { group in
                for at in through...sequence {
                    group.addTask { try await jetStream.message(in: Streams.deadLetters, at: at) }
                }
                var messages: [StoredMessage] = []
                for try await message in group { if let message { messages.append(message) } }
                return messages.sorted { $0.sequence > $1.sequence }
            }
            scanned += Int(sequence - through + 1)
            for message in messages where matches(message) {
                found.append(message)
                if found.count == limit { return (found, message.sequence > lowest ? message.sequence : nil) }
            }
            if through == lowest { return (found, nil) }
            sequence = through - 1
        }
        return (found, sequence + 1)
    }
}
