import BatonHTTPServer
import BatonNATS
import BatonObservability
import Hummingbird
import Logging
import ServiceLifecycle

/// A gateway's operator endpoints on a port of their own (`--admin-port`): `/metrics`,
/// `/healthz` and `/readyz`, over plain HTTP, and nothing else (any other path is a `404`
/// problem). The public port then answers those three `404`, so it can face clients while
/// probes and Prometheus use this one, which a firewall or NetworkPolicy keeps internal.
///
/// A service of the gateway's group, started before the gateway and stopped after it: while the
/// gateway drains, `/readyz` here answers `503` and `/metrics` can still be scraped.
struct AdminServer: Service, CustomStringConvertible {
    let connection: NATSConnection
    let listener: AdminListener
    let metrics: MetricsEndpoint?
    let logger: Logger

    var description: String { "admin listener" }

    func run() async throws {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        let readiness = NATSReadiness(connection: connection, jetStream: try JetStream(connection))
        let reconnects = GatewayMetrics.ReconnectCount(connection: connection)
        Gateway.addOperatorRoutes(to: router, readiness: readiness, metrics: metrics) { reconnects.report() }
        let logger = self.logger
        let application = Application(
            router: router,
            server: .http1WithProblems,
            configuration: .init(address: .hostname(listener.host, port: listener.port), serverName: "baton-admin"),
            onServerRunning: { channel in
                logger.info("admin listening (/metrics, /healthz, /readyz)", metadata: ["port": "\(channel.localAddress?.port ?? 0)"])
            },
            logger: logger)
        try await application.run()
    }
}
