/// Header names on Baton's NATS messages (HTTP-style, case-insensitive on read).
public enum Headers {
    public static let jobID = "Baton-Job-Id"
    /// The gateway inbox subject awaiting the answer of a durable job.
    public static let replyTo = "Baton-Reply"
    /// The HTTP status of an answer.
    public static let status = "Baton-Status"
    public static let contentType = "Content-Type"
    public static let service = "Baton-Service"
    /// When the job was accepted (RFC 3339).
    public static let created = "Baton-Created"
    /// `headers` when the record the gateway creates holds nothing the job's headers do not
    /// carry (no webhook, no idempotency key), so a worker may write it without reading it.
    public static let record = "Baton-Record"
    /// `delete` on a job whose record the gateway writes once the job is stored, with the job
    /// message's stream sequence (`JobRecord.queueSequence`): a cancel while the job is queued
    /// deletes the message as well as ending the job, so a worker's first delivery of it needs
    /// no look for an end (PROTOCOL §6.7).
    public static let cancel = "Baton-Cancel"
    /// On answer entries (the job's end): the terminal state, when the attempt that ended it
    /// started and how many there were, when it ended, why it failed, which worker ended it.
    public static let state = "Baton-State"
    public static let started = "Baton-Started"
    public static let finished = "Baton-Finished"
    public static let worker = "Baton-Worker"
    /// The last progress the handler reported (percent, decimal; message, one line): reports are
    /// written to the record at most every 250 ms, so the last ones before the end may not be.
    public static let progress = "Baton-Progress"
    public static let progressMessage = "Baton-Progress-Message"
    /// On a job queued again (`JobRecord.queuedAs`): which copy this is.
    public static let queuedAs = "Baton-Queued-As"
    /// When the job must have started by (RFC 3339).
    public static let deadline = "Baton-Deadline"
    /// On dead letters: how many attempts were made, the last error, and what failed.
    public static let attempts = "Baton-Attempts"
    public static let error = "Baton-Error"
    public static let deadLetterKind = "Baton-Dead-Letter"
    /// The API key name that owns the job (when the gateway requires keys).
    public static let owner = "Baton-Owner"
    /// The job's priority, in an answer entry that carries where the job came from (`JobEnding`).
    public static let priority = "Baton-Priority"
    /// W3C Trace Context.
    public static let traceparent = "traceparent"
    public static let tracestate = "tracestate"
}
