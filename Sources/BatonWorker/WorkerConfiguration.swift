import BatonObservability
import BatonStore
import Foundation

/// How a worker process runs its services.
public struct WorkerConfiguration: Sendable {
    /// Handlers in flight at once, per service, in this process.
    public var concurrency: Int = 8
    /// A durable job not acknowledged (and not heartbeated) for this long is redelivered.
    public var ackWait: Duration = .seconds(30)
    /// Attempts at a durable job (deliveries, counting redeliveries after a crash) before it is
    /// `failed` and copied to the dead-letter stream `BATON_DLQ`.
    public var maxAttempts: Int = 5
    /// The backoff before the second attempt of a retryable failure; it doubles per attempt
    /// (±20% jitter) up to `maxRetryBackoff`.
    public var retryBackoff: Duration = .seconds(1)
    public var maxRetryBackoff: Duration = .seconds(300)
    /// On graceful shutdown, how long running handlers may take to finish before they are
    /// cancelled and their jobs handed back.
    public var shutdownGrace: Duration = .seconds(10)
    /// How long a worker keeps trying to store a finished job's answer and terminal event while
    /// NATS cannot take them (a stream electing a leader) before it hands the job back, which
    /// runs it again. The job stays in progress meanwhile.
    public var endRetryLimit: Duration = .seconds(30)
    /// How long the first attempt of a durable job runs before its record is marked `running`
    /// (sooner when it reports progress). A job that ends before is never marked: its end
    /// records when it started, so short jobs cost no write for it.
    public var runningMarkDelay: Duration = .milliseconds(200)
    /// Records each job's `queue wait` and `handler run` spans when set: tracing is on
    /// (`--otel-endpoint`). Off, handlers still get the trace context the job carries.
    public var tracer: JobTracer?
    /// Streams and buckets this worker creates if missing.
    public var layout = Layout()
    /// This process's name in records and logs.
    public var workerID: String

    public init(workerID: String = WorkerConfiguration.defaultWorkerID()) {
        self.workerID = workerID
    }

    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// The backoff after failed attempt `attempt` (1-based).
    func backoff(afterAttempt attempt: Int) -> Duration {
        let doubled = retryBackoff * Int(1 << min(max(attempt - 1, 0), 20))
        return min(doubled, maxRetryBackoff) * Double.random(in: 0.8...1.2)
    }

    /// How often a running durable job tells JetStream it is still alive.
    var heartbeatInterval: Duration { max(.milliseconds(100), ackWait / 3) }
}
