import Logging
import Metrics
import Prometheus
import Synchronization

/// How a process reports: logs (text or JSON lines on stderr) and metrics (swift-metrics,
/// exported in the Prometheus text format by `/metrics`).
public enum Observability {
    public enum LogFormat: String, Sendable, CaseIterable {
        /// swift-log's human-readable lines (`TextLogHandler`).
        case text
        /// One JSON object a line (`ts`, `level`, `label`, `message`, metadata as fields).
        case json
    }

    private static let registry = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-log and swift-metrics once per process; later calls return the registry
    /// of the first (tests start several gateways and workers in one process).
    @discardableResult
    public static func bootstrap(logLevel: Logger.Level = .info, logFormat: LogFormat = .text) -> PrometheusCollectorRegistry {
        registry.withLock { existing in
            if let existing { return existing }
            LoggingSystem.bootstrap { label in
                switch logFormat {
                case .text:
                    return TextLogHandler(label: label, logLevel: logLevel)
                case .json:
                    return JSONLogHandler(label: label, logLevel: logLevel)
                }
            }
            let made = bootstrapMetrics()
            existing = made
            return made
        }
    }

    /// Bootstraps swift-metrics only (tests, where logging is configured per logger).
    @discardableResult
    public static func bootstrapMetricsOnly() -> PrometheusCollectorRegistry {
        registry.withLock { existing in
            if let existing { return existing }
            let made = bootstrapMetrics()
            existing = made
            return made
        }
    }

    private static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
