import BatonNATS
import BatonStore
import BatonWebhooks
import Logging
import ServiceLifecycle

extension Gateway {
    /// A gateway node's services in start order: its webhook delivery (when webhooks are on and
    /// have a secret), its admin listener (with `--admin-port`) and the gateway. A service group
    /// shuts them down in reverse: the gateway drains first (waiting clients get their `202`,
    /// requests in flight end, fast-lane answers are recorded) while the admin port still
    /// answers `/readyz` with `503`, then the admin listener and the delivery stop.
    ///
    /// - Parameter onServerRunning: called with the bound port once the server listens.
    public static func services(
        connection: NATSConnection, configuration: GatewayConfiguration, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> [any Service] {
        var services: [any Service] = []
        let delivery = WebhookDelivery(connection: connection, configuration: configuration, logger: logger)
        if let delivery { services.append(delivery) }
        if let listener = configuration.admin {
            services.append(AdminServer(connection: connection, listener: listener, metrics: configuration.metrics, logger: logger))
        }
        services.append(
            Gateway(connection: connection, configuration: configuration, logger: logger) { port in
                delivery?.gatewayStarted()
                await onServerRunning(port)
            })
        return services
    }
}

/// A gateway node's webhook delivery (`WebhookDispatcher`) as a service of its group (see
/// `Gateway.services`). It starts once its gateway listens, which has made the streams it reads,
/// and stops on graceful shutdown, which in the group comes after the gateway's: a webhook in
/// delivery then stays unacknowledged and goes to another gateway. Its HTTP client shuts down last.
struct WebhookDelivery: Service {
    let connection: NATSConnection
    let configuration: GatewayConfiguration
    let logger: Logger
    private let started = StartSignal()

    /// Nil when this gateway delivers no webhooks (`--no-webhooks`, or no secret).
    init?(connection: NATSConnection, configuration: GatewayConfiguration, logger: Logger) {
        guard configuration.webhooks.enabled, configuration.webhooks.secret != nil else { return nil }
        self.connection = connection
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "component"] = "webhooks"
        self.logger = logger
    }

    /// Lets `run()` start delivering: the gateway has made the streams and listens.
    func gatewayStarted() { started.open() }

    func run() async throws {
        let webhooks = configuration.webhooks
        let client = WebhookClient(
            maxConcurrent: webhooks.concurrency, connectTimeout: webhooks.connectTimeout, totalTimeout: webhooks.timeout)
        let connection = self.connection, layout = configuration.layout, logger = self.logger
        let started = self.started
        do {
            try await cancelWhenGracefulShutdown {
                await started.wait()
                try Task.checkCancellation()
                let jetStream = try JetStream(connection)
                let dispatcher = WebhookDispatcher(
                    jetStream: jetStream, store: JobStore(jetStream: jetStream), client: client,
                    configuration: webhooks, layout: layout, logger: logger)
                try await dispatcher.run()
            }
        } catch {
            await client.shutdown()
            // Stopped mid-delivery: what the cancellation interrupted is another gateway's now.
            if Task.isShuttingDownGracefully { return }
            throw error
        }
        await client.shutdown()
    }
}

/// Opens once; one task waits for it.
final class StartSignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        self.stream = stream
        self.continuation = continuation
    }

    func open() { continuation.finish() }

    /// Returns once open, or once the task is cancelled. Only one task may wait.
    func wait() async {
        for await _ in stream {}
    }
}
