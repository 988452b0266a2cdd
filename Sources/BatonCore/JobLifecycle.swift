/// Who writes a change to a job.
public enum JobParty: String, Sendable, CaseIterable, Codable {
    /// A gateway: it accepts jobs, and ends the fast-lane jobs it recorded.
    case gateway
    /// The worker that takes the job from the queue and runs it.
    case worker
    /// The client, through a gateway: `DELETE /v1/jobs/{id}`.
    case client
    /// A worker that pulls a job past its deadline: it is not run.
    case expiry
    /// A worker that gives up on a job out of attempts, and copies it to the dead letters.
    case deadLetter = "dead-letter"
}

/// The changes a job goes through: which state each starts from, where it leads and which party
/// may write it. `JobRecord.apply(_:by:)` is the only way a record changes state, so a change that
/// is not listed here cannot be written.
///
/// A job starts `queued` (durable lane) or `running` (a fast-lane job the gateway records), and
/// ends in one of four terminal states. An end is written once, as the job's answer entry
/// (`JobStore.finish`): the first end wins and nothing changes a terminal state again. One
/// exception keeps idempotent retries working: a durable job the gateway could not queue
/// (`notQueued`, the client got a `503`) is queued again by a retry with the same key.
public enum JobTransition: String, Sendable, CaseIterable {
    /// A gateway accepts a durable job.
    case accept
    /// A gateway records a fast-lane job that outlives the client's wait (or `respond-async`).
    case acceptRunning
    /// A worker starts an attempt (again, after a crash or a retry).
    case start
    /// A worker finds no record (its retention ended) and records the job it starts.
    case restore
    /// A worker hands a retryable failure back to the queue, for a later attempt.
    case retry
    /// The handler answered (worker), or a fast-lane worker's reply came (gateway).
    case succeed
    /// The handler failed without a retry left, or no fast-lane worker answered in time.
    case fail
    /// The job's attempts ran out; it is copied to the dead letters.
    case giveUp
    /// The client cancelled the job.
    case cancel
    /// The job's deadline passed before it started.
    case expire
    /// A gateway could not queue the job (queue full, JetStream unavailable).
    case notQueued
    /// An idempotent retry queues again a job whose first request got `notQueued`.
    case requeue

    /// The states it starts from; `nil` stands for "no record yet".
    public var from: [JobState?] {
        switch self {
        case .accept, .acceptRunning, .restore: [nil]
        case .start: [.queued, .running]
        case .retry: [.queued, .running]  // queued: it failed before its running mark was written
        case .succeed, .fail, .giveUp, .cancel, .expire: [.queued, .running]
        case .notQueued: [.queued]
        case .requeue: [.failed]
        }
    }

    public var to: JobState {
        switch self {
        case .accept, .retry, .requeue: .queued
        case .acceptRunning, .start, .restore: .running
        case .succeed: .succeeded
        case .fail, .giveUp, .notQueued: .failed
        case .cancel: .cancelled
        case .expire: .expired
        }
    }

    /// The parties that may write it.
    public var parties: [JobParty] {
        switch self {
        case .accept, .acceptRunning, .notQueued, .requeue: [.gateway]
        case .start, .restore, .retry: [.worker]
        case .succeed, .fail: [.worker, .gateway]
        case .giveUp: [.deadLetter]
        case .cancel: [.client]
        case .expire: [.expiry]
        }
    }

    /// Whether it ends the job (and so is written as the job's answer).
    public var ends: Bool { to.isTerminal && self != .notQueued }

    public func allows(from state: JobState?, by party: JobParty) -> Bool {
        from.contains(state) && parties.contains(party)
    }

    /// The transition that ends a job in `state`, as `party` writes it.
    public static func ending(in state: JobState, by party: JobParty) -> JobTransition? {
        allCases.first { $0.ends && $0.to == state && $0.parties.contains(party) }
    }
}

/// A change the lifecycle does not allow.
public struct JobLifecycleViolation: Error, Sendable, Equatable, CustomStringConvertible {
    /// The transition tried; nil for a change of state outside any transition.
    public var transition: JobTransition?
    public var from: JobState?
    public var party: JobParty

    public init(transition: JobTransition?, from: JobState?, party: JobParty) {
        self.transition = transition
        self.from = from
        self.party = party
    }

    public var description: String {
        let job = "a job that is \(from?.rawValue ?? "not recorded")"
        guard let transition else { return "\(party.rawValue) may not change the state of \(job) outside a transition" }
        return "\(party.rawValue) may not \(transition.rawValue) \(job)"
    }
}

extension JobRecord {
    /// Changes the record's state by `transition`, written by `party`; throws when the lifecycle
    /// does not allow it from the record's state (or to that party).
    public mutating func apply(_ transition: JobTransition, by party: JobParty) throws(JobLifecycleViolation) {
        guard transition.allows(from: state, by: party) else {
            throw JobLifecycleViolation(transition: transition, from: state, party: party)
        }
        state = transition.to
    }

    /// A new record, as `transition` (one that starts from no record) creates it.
    public init(
        _ transition: JobTransition, by party: JobParty, id: String, service: String, lane: Lane, createdAt: Timestamp = .now
    ) throws(JobLifecycleViolation) {
        guard transition.allows(from: nil, by: party) else {
            throw JobLifecycleViolation(transition: transition, from: nil, party: party)
        }
        self.init(id: id, service: service, lane: lane, state: transition.to, createdAt: createdAt)
    }
}

extension JobTransition {
    /// The lifecycle as a Markdown table (`docs/PROTOCOL.md` §5.7 shows it; a test keeps the two
    /// the same).
    public static var markdownTable: String {
        var lines = ["| transition | from | to | written by |", "| --- | --- | --- | --- |"]
        for transition in JobTransition.allCases {
            let from = transition.from.map { $0.map { "`\($0.rawValue)`" } ?? "(no record)" }.joined(separator: ", ")
            let parties = transition.parties.map(\.rawValue).joined(separator: ", ")
            lines.append("| `\(transition.rawValue)` | \(from) | `\(transition.to.rawValue)` | \(parties) |")
        }
        return lines.joined(separator: "\n")
    }
}
