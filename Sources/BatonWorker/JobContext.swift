import BatonCore
import BatonNATS
import BatonStore
import Logging

/// What a handler can do besides computing its answer: report progress.
///
/// Progress goes to `baton.progress.<service>.<job>` at once (anyone may `nats sub` it) and, for
/// durable jobs, into the job record so that polling clients see it too: at most every 250 ms
/// (the last report wins), and not at all when the job ends first (its end says how far it got).
public struct JobContext: Sendable {
    let job: Job
    let connection: NATSConnection
    let store: JobStore?
    let cursor: RecordCursor?
    let jobLogger: JobLogger

    /// The worker's logger, with the job's id and trace id in every line's metadata.
    public var logger: Logger { jobLogger.logger }

    init(job: Job, connection: NATSConnection, store: JobStore?, cursor: RecordCursor? = nil, logger: JobLogger) {
        self.job = job
        self.connection = connection
        self.store = store
        self.cursor = cursor
        self.jobLogger = logger
    }

    /// Reports progress. `percent` is 0...100; `data` is optional partial output (text/JSON).
    public func progress(percent: Double? = nil, message: String? = nil, data: String? = nil) async {
        let event = ProgressEvent(job: job.id, service: job.service, percent: percent, message: message, data: data)
        do {
            try connection.publish(try JSON.encode(event), to: Subjects.progress(service: job.service, job: job.id))
        } catch {
            jobLogger.debug("progress not published", metadata: ["error": "\(error)"])
        }
        guard let store, let cursor else { return }
        let id = job.id
        let logger = jobLogger
        cursor.recordProgress(JobProgress(percent: percent, message: message), within: Self.progressInterval) { progress, base in
            do {
                return try await store.update(id, from: base, by: .worker) { record in
                    guard record.state == .running else { return false }
                    record.progress = progress
                    return true
                }
            } catch {
                logger.debug("progress not recorded", metadata: ["error": "\(error)"])
                return nil
            }
        }
    }

    /// How often, at most, a job's progress is written to its record (the events go at once).
    static let progressInterval: Duration = .milliseconds(250)

    /// True once the job was cancelled (or the worker is stopping); handlers may also just
    /// `try Task.checkCancellation()`.
    public var isCancelled: Bool { Task.isCancelled }

    /// When the job had to start by, if the caller set a deadline (see `Job.deadline`).
    public var deadline: Timestamp? { job.deadline }
}
