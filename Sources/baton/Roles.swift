import ArgumentParser
import BatonGateway
import BatonNATS
import BatonHTTPServer
import BatonObservability
import BatonWorker
import EmbeddedNATS
import Logging
import ServiceLifecycle

/// The processes `baton` runs: each is one service group, from `Role.buildServices`.
enum Role {
    case gateway(GatewayCommand)
    case worker(WorkerCommand)
    case dev(DevCommand)

    /// Runs the role until SIGTERM or SIGINT has shut its services down, in reverse start order.
    func run() async throws {
        let metrics = common.bootstrapLogging()
        let logger = Logger(label: label)
        let services = try await Self.buildServices(self, metrics: metrics, logger: logger)
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// A role's services in start order (a service group shuts them down in reverse):
    ///
    /// - gateway: span exporter, NATS connection, webhook delivery, admin listener
    ///   (`--admin-port`), gateway
    /// - worker: span exporter, NATS connection, worker, metrics listener
    /// - dev: span exporter, nats-server, gateway's and worker's NATS connections, worker,
    ///   webhook delivery, admin listener, gateway
    ///
    /// So what a service uses is closed after it: a NATS connection after the services on it,
    /// `baton dev`'s nats-server last, and the span exporter (only with `--otel-endpoint`) after
    /// everything that records spans, flushing them. What was opened before a step fails is
    /// closed again.
    static func buildServices(_ role: Role, metrics: MetricsEndpoint, logger: Logger) async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var built = RoleServices()
        let tracer = try built.startTracing(endpoint: role.common.tracingEndpoint, serviceName: role.label.replacingOccurrences(of: ".", with: "-"), logger: logger)
        do {
            switch role {
            case .gateway(let command):
                var configuration = try command.gateway.configuration(port: command.port)
                let connection = try await built.connect(command.nats.configuration(urls: command.natsURL, name: "baton-gateway"), logger: logger)
                configuration.layout = command.common.layout(for: connection)
                configuration.tracer = tracer
                configuration.metrics = metrics
                configuration.shutdownGrace = command.common.shutdownGrace.duration
                if configuration.apiKeys == nil {
                    logger.notice("API keys are off: any client may call (--api-keys FILE or BATON_API_KEYS to require them)")
                }
                built.add(Gateway.services(connection: connection, configuration: configuration, logger: logger))

            case .worker(let command):
                let definitions = try command.worker.definitions()
                let connection = try await built.connect(command.nats.configuration(urls: command.natsURL, name: "baton-worker"), logger: logger)
                var configuration = command.worker.configuration(
                    layout: command.common.layout(for: connection), shutdownGrace: command.common.shutdownGrace.duration)
                configuration.tracer = tracer
                built.add(Worker(connection: connection, services: definitions, configuration: configuration, logger: logger))
                if command.metricsPort > 0 {
                    let host = command.metricsHost, port = command.metricsPort
                    built.add(MetricsService { try await metrics.serve(host: host, port: port, logger: logger) })
                }

            case .dev(let command):
                var configuration = try command.gateway.configuration(port: command.port, dev: true)
                let (natsURL, natsDescription) = try await built.devNATS(command, logger: logger)
                let gatewayConnection = try await built.connect(command.nats.configuration(urls: natsURL, name: "baton-dev-gateway"), logger: logger)
                let workerConnection = try await built.connect(command.nats.configuration(urls: natsURL, name: "baton-dev-worker"), logger: logger)
                configuration.layout = command.common.layout(for: gatewayConnection)
                configuration.tracer = tracer
                configuration.metrics = metrics
                configuration.shutdownGrace = command.common.shutdownGrace.duration
                let keys = configuration.apiKeys.map { "on (\($0.count) keys)" } ?? "off: any client may call (--api-keys FILE to require keys)"
                let secret = configuration.webhooks.secret?.description ?? "(none)"
                let tls = configuration.tls != nil, adminPort = configuration.admin?.port
                var workerConfiguration = command.worker.configuration(
                    layout: command.common.layout(for: workerConnection), shutdownGrace: command.common.shutdownGrace.duration)
                workerConfiguration.tracer = tracer
                let worker = Worker(
                    connection: workerConnection, services: try command.worker.definitions(), configuration: workerConfiguration,
                    logger: logger)
                try await worker.prepare()  // the example services are registered before the gateway listens
                built.add(worker)
                built.add(Gateway.services(connection: gatewayConnection, configuration: configuration, logger: logger) { port in
                    DevCommand.printWelcome(
                        port: port, tls: tls, adminPort: adminPort, natsURL: NATSSecurity.redacting(url: natsURL), natsServer: natsDescription,
                        webhookSecret: secret, apiKeys: keys)
                })
            }
        } catch {
            await built.close()
            throw error
        }
        return built.services
    }

    var common: CommonOptions {
        switch self {
        case .gateway(let command): command.common
        case .worker(let command): command.common
        case .dev(let command): command.common
        }
    }

    var label: String {
        switch self {
        case .gateway: "baton.gateway"
        case .worker: "baton.worker"
        case .dev: "baton.dev"
        }
    }
}

/// A role's services in start order, as `Role.buildServices` adds them, and the resources they use.
struct RoleServices {
    private(set) var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    /// How to close each resource held, in the order they were opened.
    private var closes: [@Sendable () async -> Void] = []

    /// Adds `service`, named (in the service group's debug logs) by its description, else by its
    /// type. A service that throws shuts the others down gracefully, in reverse start order, so
    /// what they use still closes after them; the group then throws its error.
    mutating func add(_ service: any Service) {
        let name = (service as? any CustomStringConvertible)?.description ?? "\(type(of: service))"
        services.append(.init(service: service, failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: name))
    }

    mutating func add(_ services: [any Service]) {
        for service in services { add(service) }
    }

    /// Connects to NATS; the connection is drained and closed when graceful shutdown reaches it.
    mutating func connect(_ configuration: NATSConfiguration, logger: Logger) async throws -> NATSConnection {
        let connection = try await NATSConnection.connect(configuration, logger: logger)
        hold(HeldResource(name: "NATS connection \(configuration.name)") { await connection.drainAndClose() })
        return connection
    }

    /// Exports spans to `endpoint`, if one is configured: returns the tracer, and adds the
    /// exporter as the first service (stopped last, it flushes the spans of the others).
    /// Without the OTel trait, an endpoint named by `--otel-endpoint` is refused; one that only
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` names (perhaps set for every process of a host) is warned
    /// about.
    mutating func startTracing(endpoint: (url: String, explicit: Bool)?, serviceName: String, logger: Logger) throws -> JobTracer? {
        guard let endpoint else { return nil }
        do {
            let (tracer, exporter) = try OTLPTracing.make(endpoint: endpoint.url, serviceName: serviceName, logger: logger)
            add(TracingExporter(exporter: exporter))
            logger.info("exporting traces", metadata: ["endpoint": "\(endpoint.url)", "service": "\(serviceName)"])
            return tracer
        } catch let error as OTLPTracing.Unavailable {
            guard endpoint.explicit else {
                logger.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set, but \(error.description)")
                return nil
            }
            throw ValidationError(error.description)
        }
    }

    /// `baton dev`'s NATS: the server `--nats-url` names, else an embedded nats-server; its
    /// URLs and what to call it in the welcome text.
    mutating func devNATS(_ command: DevCommand, logger: Logger) async throws -> (urls: String, description: String) {
        if let urls = command.natsURL {
            return (urls, "external (\(try command.nats.security()))")
        }
        guard try command.nats.security() == NATSSecurity() else {
            throw ValidationError("the NATS security options apply to an external server: give --nats-url too (the embedded nats-server has no TLS or credentials)")
        }
        do {
            let server = try await startNATSServer(
                port: command.natsPort == 0 ? nil : command.natsPort, storeDirectory: command.store,
                executable: command.natsServer, logger: logger)
            return (server.url, "nats-server \(server.version?.description ?? "?") (\(server.executable))")
        } catch let error as NATSServerProcess.StartError {
            throw ValidationError(error.description)
        }
    }

    /// Starts the embedded nats-server; it is stopped when graceful shutdown reaches it.
    mutating func startNATSServer(port: Int?, storeDirectory: String?, executable: String?, logger: Logger) async throws -> NATSServerProcess {
        let server = try await NATSServerProcess.start(port: port, storeDirectory: storeDirectory, executable: executable, logger: logger)
        hold(HeldResource(name: "nats-server") { server.stop() })
        return server
    }

    private mutating func hold(_ resource: HeldResource) {
        add(resource)
        closes.append(resource.close)
    }

    /// Closes every resource held, the last opened first: for a role that could not be built.
    func close() async {
        for close in closes.reversed() { await close() }
    }
}

/// A resource the services after it in their group use (a NATS connection, `baton dev`'s
/// nats-server) as a service of the group: it stays open until graceful shutdown reaches it,
/// which is after those services ended, then closes. Cancellation (a service returned on its
/// own) closes it at once.
struct HeldResource: Service, CustomStringConvertible {
    let name: String
    let close: @Sendable () async -> Void

    var description: String { name }

    func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}

/// The worker's metrics listener as a service of its group.
struct MetricsService: Service {
    let body: @Sendable () async throws -> Void
    func run() async throws { try await body() }
}

/// swift-otel's span batching and export as a service of the role's group (named in its logs).
struct TracingExporter: Service, CustomStringConvertible {
    let exporter: any Service
    var description: String { "OTLP span exporter" }
    func run() async throws { try await exporter.run() }
}
