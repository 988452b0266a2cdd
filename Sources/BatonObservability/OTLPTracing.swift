import Logging
import ServiceLifecycle

#if OTel
import OTel
#endif

/// Exports a process's spans over OTLP/HTTP (protobuf) with swift-otel, when an endpoint is
/// configured (`--otel-endpoint`, `OTEL_EXPORTER_OTLP_ENDPOINT`).
///
/// swift-otel and what it brings (async-http-client, swift-nio-ssl, swift-protobuf) take
/// minutes to build, so they are compiled in only with the package trait `OTel`
/// (`swift build --traits OTel`); without it `isAvailable` is false and `make` refuses the
/// endpoint rather than dropping the spans silently. The rest of the tracing (`JobTracer`,
/// swift-distributed-tracing) is always built.
public enum OTLPTracing {
    /// Whether this build can export (it was built with the `OTel` trait).
    public static var isAvailable: Bool {
        #if OTel
        true
        #else
        false
        #endif
    }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String {
            "this baton was built without OpenTelemetry export: build it with `swift build --traits OTel` to use --otel-endpoint"
        }
    }

    /// The tracer and the service that batches and exports its spans: run the service in the
    /// process's service group, before the services that make spans, so it is stopped after
    /// them and flushes what they recorded.
    ///
    /// - Parameters:
    ///   - endpoint: the collector's OTLP/HTTP base URL (`http://collector:4318`); spans go to
    ///     `/v1/traces` under it. The standard `OTEL_*` variables swift-otel reads (protocol,
    ///     headers, sampler, batch delay, `OTEL_SERVICE_NAME`) apply on top.
    ///   - serviceName: the `service.name` resource attribute (`baton-gateway`, `baton-worker`).
    public static func make(endpoint: String, serviceName: String, logger: Logger) throws -> (tracer: JobTracer, service: any Service) {
        #if OTel
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.otlpExporter.endpoint = tracesURL(endpoint)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return (JobTracer(backend.factory), backend.service)
        #else
        throw Unavailable()
        #endif
    }

    /// `http://host:4318` → `http://host:4318/v1/traces`, as OTLP does with
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    static func tracesURL(_ endpoint: String) -> String {
        var base = Substring(endpoint)
        while base.hasSuffix("/") { base = base.dropLast() }
        return base.hasSuffix("/v1/traces") ? String(base) : base + "/v1/traces"
    }
}
