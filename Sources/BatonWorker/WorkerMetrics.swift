import BatonCore
import BatonObservability
import Metrics

/// The worker runtime's metrics (swift-metrics; `baton worker` serves them on `--metrics-port`).
///
/// - `baton_job_duration_seconds{service,state}`: from taking the job to its end;
/// - `baton_jobs_finished_total{service,state}`: jobs ended here by state (`succeeded`,
///   `failed`, `cancelled`, `expired`);
/// - `baton_jobs_in_flight{service}`: handlers running now;
/// - `baton_queue_depth{service}`: durable jobs waiting, as JetStream reported with the last
///   job pulled;
/// - `baton_job_redeliveries_total{service}`: deliveries after the first (crashes, timeouts,
///   retries);
/// - `baton_job_retries_total{service}`: retryable failures handed back with a backoff;
/// - `baton_dead_letters_total{kind}`.
///
/// A service's in-flight gauge and its finished counters are there, at zero, from the start
/// (`announce`): a fresh worker's scrape shows what it serves, and `rate()` counts its first job.
enum WorkerMetrics {
    static func announce(services: [String]) {
        for service in services {
            inFlightHandles[service].set(0)
            for state in JobState.allCases where state.isTerminal {
                _ = finishedHandles[LabelPair(service, state.rawValue)]
            }
        }
    }

    static func finished(service: String, state: String, duration: Duration?) {
        let handles = finishedHandles[LabelPair(service, state)]
        handles.count.increment()
        if let duration { handles.duration.record(duration: duration) }
    }

    static func inFlight(service: String) -> Meter { inFlightHandles[service] }

    static func queueDepth(service: String, pending: UInt64) {
        queueDepthHandles[service].record(Int64(clamping: pending))
    }

    // Made once per service (and state): see `MetricHandles`.
    private static let finishedHandles = MetricHandles { (key: LabelPair) in
        let dimensions = [("service", key.first), ("state", key.second)]
        return (
            count: Counter(label: "baton_jobs_finished_total", dimensions: dimensions),
            duration: Timer(label: "baton_job_duration_seconds", dimensions: dimensions)
        )
    }
    private static let inFlightHandles = MetricHandles { (service: String) in
        Meter(label: "baton_jobs_in_flight", dimensions: [("service", service)])
    }
    private static let queueDepthHandles = MetricHandles { (service: String) in
        Gauge(label: "baton_queue_depth", dimensions: [("service", service)])
    }

    static func redelivered(service: String) {
        Counter(label: "baton_job_redeliveries_total", dimensions: [("service", service)]).increment()
    }

    static func retried(service: String) {
        Counter(label: "baton_job_retries_total", dimensions: [("service", service)]).increment()
    }

    static func deadLettered(kind: String) {
        Counter(label: "baton_dead_letters_total", dimensions: [("kind", kind)]).increment()
    }
}
