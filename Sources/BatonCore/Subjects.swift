/// Every NATS subject Baton uses, in one place (see docs in README "Subjects").
public enum Subjects {
    /// Durable jobs: `baton.jobs.<service>.<priority>` (stream `BATON_JOBS`).
    public static func job(service: String, priority: Priority = .normal) -> String {
        // Sized first: every durable submit makes one, and an interpolation grows its buffer.
        let prefix = "baton.jobs."
        var subject = String()
        subject.reserveCapacity(prefix.utf8.count + service.utf8.count + 1 + priority.rawValue.utf8.count)
        subject += prefix
        subject += service
        subject += "."
        subject += priority.rawValue
        return subject
    }

    /// The priority a durable job's subject names (its last token), or nil.
    public static func priority(ofJob subject: String) -> Priority? {
        let utf8 = subject.utf8
        let last = utf8.lastIndex(of: UInt8(ascii: ".")).map { utf8[utf8.index(after: $0)...] } ?? utf8[...]
        // Compared as bytes: `Priority(rawValue:)` takes a String, and matches it generically.
        return Priority.allCases.first { last.elementsEqual($0.rawValue.utf8) }
    }

    /// All durable jobs of a service (the service's consumer filter).
    public static func jobs(service: String) -> String { "baton.jobs.\(service).>" }

    /// Fast-lane requests: `baton.svc.<service>`, served by queue group `baton.<service>`.
    public static func fast(service: String) -> String { "baton.svc.\(service)" }

    public static func queueGroup(service: String) -> String { "baton.\(service)" }

    /// Progress events: `baton.progress.<service>.<job>`.
    public static func progress(service: String, job: String) -> String { "baton.progress.\(service).\(job)" }

    /// A job's answer entry, which is also its end: `$KV.baton-results.<job>` (written once).
    /// Watchers subscribe to it: the write that ends a job is the event that it ended.
    public static func answer(job: String) -> String { "$KV.\(Streams.resultsBucket).\(job)" }

    /// Every job's end: `$KV.baton-results.>`.
    public static let allAnswers = "$KV.\(Streams.resultsBucket).>"

    /// Terminal events for webhooks: `baton.done.<service>.<job>` (stream `BATON_EVENTS`),
    /// published only for jobs that have a webhook.
    public static func done(service: String, job: String) -> String { "baton.done.\(service).\(job)" }

    /// Cancel requests: `baton.cancel.<job>`.
    public static func cancel(job: String) -> String { "baton.cancel.\(job)" }

    /// Progress and webhook events of one job: `baton.*.<service>.<job>`.
    public static func events(service: String, job: String) -> String { "baton.*.\(service).\(job)" }

    /// The terminal event of a job whatever its service.
    public static func done(job: String) -> String { "baton.done.*.\(job)" }

    /// Dead letters: `baton.dlq.jobs.<service>.<job>` (jobs that failed every attempt) and
    /// `baton.dlq.webhooks.<service>.<job>` (webhooks that failed every attempt).
    public static func deadJob(service: String, job: String) -> String { "baton.dlq.jobs.\(service).\(job)" }
    public static func deadWebhook(service: String, job: String) -> String { "baton.dlq.webhooks.\(service).\(job)" }
    /// Every dead letter of one job, whatever its kind and service.
    public static func deadLetters(job: String) -> String { "baton.dlq.*.*.\(job)" }

    public static let allCancels = "baton.cancel.*"
    public static let allDeadLetters = "baton.dlq.>"
    public static let allJobs = "baton.jobs.>"
    public static let allDone = "baton.done.>"
}
