import BatonNATS
import BatonObservability
import BatonStore
import Hummingbird

/// The HTTP API a gateway serves: its middleware and routes, over the gateway's connection.
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

    /// The HTTP API: the middleware and every route (OpenAPITests checks `routes` against
    /// `OpenAPI/openapi.json`).
    func buildRouter(jetStream: JetStream, admission: QueueAdmission = .streamEnforced) -> Router<BasicRequestContext> {
        let store = JobStore(jetStream: jetStream)
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        if let keys = configuration.apiKeys { router.add(middleware: AuthMiddleware(keys: keys)) }
        let dispatcher = JobDispatcher(
            connection: connection, jetStream: jetStream, store: store, admission: admission, configuration: configuration,
            logger: logger, background: background)
        let idempotency = IdempotencyKeys(jetStream: jetStream)
        let registry = ServiceRegistry(jetStream: jetStream)
        let jobs = JobsController(
            dispatcher: dispatcher,
            store: store,
            watcher: JobWatcher(connection: connection, store: store),
            events: JobEvents(connection: connection, store: store, heartbeat: configuration.sseHeartbeat),
            idempotency: idempotency,
            registry: registry,
            configuration: configuration,
            maxBody: effectiveMaxBody
        )
        jobs.addRoutes(to: router)
        JobListController(store: store).addRoutes(to: router)
        DeadLettersController(jetStream: jetStream, idempotency: idempotency).addRoutes(to: router)
        DeadLetterReplayController(jetStream: jetStream, store: store, dispatcher: dispatcher, registry: registry, idempotency: idempotency)
            .addRoutes(to: router)
        OpenAPIController().addRoutes(to: router)
        UIController().addRoutes(to: router)
        ServicesController(connection: connection, jetStream: jetStream).addRoutes(to: router)
        // With an admin port they are served there instead (AdminServer), and 404 here.
        if configuration.admin == nil {
            Self.addOperatorRoutes(to: router, connection: connection, jetStream: jetStream, metrics: configuration.metrics)
        }
        return router
    }

    /// `/metrics` (when the process has a registry), `/healthz` and `/readyz`: on the public
    /// port, or on the admin port when there is one.
    static func addOperatorRoutes(to router: Router<BasicRequestContext>, connection: NATSConnection, jetStream: JetStream, metrics: MetricsEndpoint?) {
        if let metrics {
            let reconnects = GatewayMetrics.ReconnectCount(connection: connection)
            MetricsEndpoint(registry: metrics.registry) {
                reconnects.report()
                await metrics.beforeScrape()
            }.addRoutes(to: router)
        }
        HealthController(connection: connection, jetStream: jetStream).addRoutes(to: router)
    }
}
