import BatonNATS
import BatonHTTPServer
import BatonObservability
import BatonStore
import Hummingbird

/// The HTTP API a gateway serves: its middleware and routes, over a backend.
extension Gateway {
    /// The largest body that fits in one NATS message next to Baton's headers.
    var effectiveMaxBody: Int {
        let fits = connection.maxPayload - 4096
        if fits < configuration.maxBody {
            logger.warning("max body lowered to fit the NATS max payload", metadata: ["max_body": "\(fits)", "max_payload": "\(connection.maxPayload)"])
            return fits
        }
        return configuration.maxBody
    }

    /// The HTTP API over this gateway's connection (OpenAPITests checks `routes` against
    /// `OpenAPI/openapi.json`).
    func buildRouter(jetStream: JetStream, admission: QueueAdmission = .streamEnforced) -> Router<BasicRequestContext> {
        let backend = NATSBackend(
            connection: connection, jetStream: jetStream, admission: admission, configuration: configuration, logger: logger,
            background: background)
        return Self.buildRouter(backend, configuration: configuration, maxBody: effectiveMaxBody)
    }

    /// The HTTP API over `backend`: the middleware and every route.
    ///
    /// - Parameter maxBody: the body limit in force (`effectiveMaxBody` for NATS).
    static func buildRouter(_ backend: some GatewayBackend, configuration: GatewayConfiguration, maxBody: Int) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        if let keys = configuration.apiKeys { router.add(middleware: AuthMiddleware(keys: keys)) }
        JobsController(backend: backend, configuration: configuration, maxBody: maxBody).addRoutes(to: router)
        JobListController(jobs: backend.jobs).addRoutes(to: router)
        DeadLettersController(deadLetters: backend.deadLetters, claims: backend.claims).addRoutes(to: router)
        DeadLetterReplayController(backend: backend, recordsTraces: configuration.tracer != nil).addRoutes(to: router)
        OpenAPIController().addRoutes(to: router)
        UIController().addRoutes(to: router)
        ServicesController(services: backend.services).addRoutes(to: router)
        // With an admin port they are served there instead (AdminServer), and 404 here.
        if configuration.admin == nil {
            addOperatorRoutes(to: router, readiness: backend.readiness, metrics: configuration.metrics) { backend.beforeScrape() }
        }
        return router
    }

    /// `/metrics` (when the process has a registry), `/healthz` and `/readyz`: on the public
    /// port, or on the admin port when there is one.
    ///
    /// - Parameter beforeScrape: brings the backend's own metrics up to date.
    static func addOperatorRoutes(
        to router: Router<BasicRequestContext>, readiness: some Readiness, metrics: MetricsEndpoint?,
        beforeScrape: @escaping @Sendable () -> Void
    ) {
        if let metrics {
            MetricsEndpoint(registry: metrics.registry) {
                beforeScrape()
                await metrics.beforeScrape()
            }.addRoutes(to: router)
        }
        HealthController(readiness: readiness).addRoutes(to: router)
    }
}
