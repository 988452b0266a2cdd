import BatonCore
import BatonNATS
import BatonStore
import Logging
import ServiceLifecycle

/// A worker process's runtime: offers its services over NATS until shut down.
///
/// At start it creates any missing streams and buckets, registers each service in
/// `baton-services`, then serves: durable services pull from their shared durable consumers
/// (one per priority, high before normal before low, see `PriorityPuller`),
/// fast services answer requests in their queue group. On graceful shutdown it stops taking
/// work; jobs in flight are handed back to JetStream (durable) so another worker runs them.
public struct Worker: Service {
    public let connection: NATSConnection
    public let services: [ServiceDefinition]
    public let configuration: WorkerConfiguration
    public let logger: Logger

    public init(connection: NATSConnection, services: [ServiceDefinition], configuration: WorkerConfiguration, logger: Logger) {
        self.connection = connection
        self.services = services
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "worker"] = "\(configuration.workerID)"
        self.logger = logger
    }

    /// Creates the streams, buckets and consumers that are missing and registers each service in
    /// `baton-services`: what `run` does first, callable before it. `baton dev` does, so its
    /// gateway, which starts beside the worker, never answers `404 unknown service` for an
    /// example service in its first instant. Idempotent.
    public func prepare() async throws {
        try await prepare(try JetStream(connection))
    }

    private func prepare(_ jetStream: JetStream) async throws {
        try await configuration.layout.ensure(jetStream)
        for service in services where service.lane == .durable {
            try await configuration.layout.ensureConsumers(jetStream, service: service.name, ackWait: configuration.ackWait)
        }
        let registry = ServiceRegistry(jetStream: jetStream)
        for service in services {
            try await registry.register(ServiceRegistration(
                name: service.name, lane: service.lane, version: service.version, description: service.description))
        }
        logger.debug("services registered", metadata: ["services": "\(services.map(\.name).joined(separator: ","))"])
    }

    public func run() async throws {
        let jetStream = try JetStream(connection)
        let capabilities = await connection.logServerVersion()
        try await prepare(jetStream)
        let store = JobStore(jetStream: jetStream)
        WorkerMetrics.announce(services: services.map(\.name))
        logger.info("worker serving", metadata: [
            "services": "\(services.map { "\($0.name) (\($0.lane.rawValue))" }.joined(separator: ", "))",
            "concurrency": "\(configuration.concurrency)",
        ])

        let cancellations = Cancellations()
        let micro = MicroResponder(services: services, workerID: configuration.workerID, connection: connection, logger: logger)
        let stopping = StopSignal()
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await cancellations.listen(on: connection, logger: logger) }
                group.addTask { try await micro.run() }
                // Graceful shutdown: stop taking work and let running handlers finish for up to
                // `shutdownGrace`; then cancel them (their durable jobs are handed back).
                group.addTask {
                    await stopping.wait()
                    try Task.checkCancellation()
                    logger.info("stopping: finishing the jobs in flight", metadata: ["grace": "\(configuration.shutdownGrace)"])
                    try await Task.sleep(for: configuration.shutdownGrace)
                    logger.warning("grace period over: handing the remaining jobs back")
                }
                group.addTask {
                    try await serve(
                        jetStream: jetStream, store: store, cancellations: cancellations, micro: micro, stopping: stopping,
                        capabilities: capabilities)
                }
                // The first to end (the work after a drain, or the grace timer) ends the rest.
                try await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            stopping.stop()
        }
        logger.info("worker stopped")
    }

    /// Offers every service until the work ends (after `stopping`) or the task is cancelled.
    private func serve(
        jetStream: JetStream, store: JobStore, cancellations: Cancellations, micro: MicroResponder, stopping: StopSignal,
        capabilities: ServerCapabilities?
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services {
                var logger = self.logger
                logger[metadataKey: "service"] = "\(service.name)"
                switch service.lane {
                case .durable:
                    let runner = DurableJobRunner(
                        service: service, connection: connection, store: store, cancellations: cancellations,
                        configuration: configuration, logger: logger, stats: micro.stats(for: service.name),
                        deliveryCountIsExact: capabilities?.keepsDeliveryCountOnNak ?? false)
                    // high, normal, low: see PriorityPullState for the rule.
                    let consumer = PriorityPuller(
                        jetStream: jetStream, stream: Streams.jobs,
                        consumers: Priority.allCases.map { Streams.consumer(service: service.name, priority: $0) })
                    let concurrency = configuration.concurrency
                    group.addTask {
                        try await consumer.run(maxInFlight: concurrency, logger: logger, draining: { stopping.isStopping }) { message in
                            await runner.process(message)
                        }
                    }
                case .fast:
                    let server = FastLaneServer(
                        service: service, connection: connection, cancellations: cancellations, configuration: configuration,
                        logger: logger, stats: micro.stats(for: service.name))
                    group.addTask { try await server.run(stopping: stopping) }
                }
            }
            try await group.waitForAll()
        }
    }
}
