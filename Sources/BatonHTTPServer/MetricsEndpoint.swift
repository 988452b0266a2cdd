import Hummingbird
import Logging
import NIOCore
import Prometheus

/// `GET /metrics` in the Prometheus text format (0.0.4).
public struct MetricsEndpoint: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// Runs before each scrape, to set gauges that are cheaper to read than to track.
    public let beforeScrape: @Sendable () async -> Void

    public init(registry: PrometheusCollectorRegistry, beforeScrape: @escaping @Sendable () async -> Void = {}) {
        self.registry = registry
        self.beforeScrape = beforeScrape
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/metrics") { _, _ in
            await beforeScrape()
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: buffer))
        }
    }

    /// A small HTTP server for processes without one (workers): `/metrics` and `/healthz`. Run it
    /// in a service group: it ends on the group's graceful shutdown.
    public func serve(host: String, port: Int, logger: Logger) async throws {
        let router = Router()
        addRoutes(to: router)
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        let application = Application(
            router: router, server: .http1WithProblems,
            configuration: .init(address: .hostname(host, port: port), serverName: "baton-worker"), logger: logger)
        try await application.run()
    }
}
