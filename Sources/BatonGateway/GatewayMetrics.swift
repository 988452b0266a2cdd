import BatonNATS
import BatonObservability
import Metrics
import Synchronization

/// The gateway's metrics (swift-metrics; `/metrics` exports them for Prometheus).
///
/// - `baton_request_duration_seconds{service,outcome}`: `POST /v1/jobs/{service}` latency by
///   outcome — `sync` (the answer on the call), `accepted` (switched to or asked for `202`),
///   `error` (a problem document);
/// - `baton_waiting_requests`: clients waiting synchronously right now;
/// - `baton_jobs_submitted_total{service,lane}`;
/// - `baton_webhook_attempts_total{outcome}` (`delivered`, `retry`, `failed`) and
///   `baton_webhook_attempt_duration_seconds`;
/// - `baton_nats_reconnects_total`.
enum GatewayMetrics {
    enum Outcome: String {
        case sync, accepted, error
    }

    /// `service` is a known service's name or `unknown`: a bounded set of handles.
    static func recordRequest(service: String, outcome: Outcome, since start: ContinuousClock.Instant) {
        requestDurations[LabelPair(service, outcome.rawValue)].record(duration: ContinuousClock.now - start)
    }

    static let waiting = Meter(label: "baton_waiting_requests")

    static func submitted(service: String, lane: String) {
        submittedCounters[LabelPair(service, lane)].increment()
    }

    // Made once per label pair: see `MetricHandles`.
    private static let requestDurations = MetricHandles { (key: LabelPair) in
        Timer(label: "baton_request_duration_seconds", dimensions: [("service", key.first), ("outcome", key.second)])
    }
    private static let submittedCounters = MetricHandles { (key: LabelPair) in
        Counter(label: "baton_jobs_submitted_total", dimensions: [("service", key.first), ("lane", key.second)])
    }

    static func webhookAttempt(_ outcome: String, duration: Duration) {
        Counter(label: "baton_webhook_attempts_total", dimensions: [("outcome", outcome)]).increment()
        Timer(label: "baton_webhook_attempt_duration_seconds").record(duration: duration)
    }

    static let reconnects = Counter(label: "baton_nats_reconnects_total")
}

extension GatewayMetrics {
    /// Feeds `baton_nats_reconnects_total` from the connection's running count of reconnects:
    /// the counter catches up at each scrape (the only time anyone reads it).
    final class ReconnectCount: Sendable {
        let connection: NATSConnection
        /// The count at the last scrape.
        private let reported = Mutex(0)

        init(connection: NATSConnection) {
            self.connection = connection
        }

        /// Adds the reconnects since the last call to the counter.
        func report() {
            let now = connection.reconnects
            let delta = reported.withLock { last in
                defer { last = now }
                return now - last
            }
            if delta > 0 { GatewayMetrics.reconnects.increment(by: Int64(delta)) }
        }
    }
}
