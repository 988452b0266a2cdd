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
enum WorkerMetrics {
    static func finished(service: String, state: String, duration: Duration?) {
        Counter(label: "baton_jobs_finished_total", dimensions: [("service", service), ("state", state)]).increment()
        if let duration {
            Timer(label: "baton_job_duration_seconds", dimensions: [("service", service), ("state", state)]).record(duration: duration)
        }
    }

    static func inFlight(service: String) -> Meter {
        Meter(label: "baton_jobs_in_flight", dimensions: [("service", service)])
    }

    static func queueDepth(service: String, pending: UInt64) {
        Gauge(label: "baton_queue_depth", dimensions: [("service", service)]).record(Int64(clamping: pending))
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
