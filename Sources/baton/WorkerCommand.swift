import ArgumentParser
import BatonNATS
import BatonObservability
import BatonWorker
import Logging
import ServiceLifecycle

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run a worker process with the example services.",
        discussion: ConfigurationHelp.discussion(
            example: "E.g. BATON_NATS_URL=nats://a:4222 BATON_CONCURRENCY=32, or `services = echo,slow` in the file."))

    @Option(name: .customLong("nats-url"), help: "NATS server URLs, comma-separated (env BATON_NATS_URL).")
    var natsURL = "nats://127.0.0.1:4222"

    @Option(help: "Port of the worker's /metrics and /healthz (0: off).")
    var metricsPort = 9091

    @Option(help: "Address of the metrics listener.")
    var metricsHost = "0.0.0.0"

    @OptionGroup var worker: WorkerOptions
    @OptionGroup var common: CommonOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        let metrics = common.bootstrapLogging()
        let logger = Logger(label: "baton.worker")
        let definitions = try worker.definitions()
        let connection = try await NATSConnection.connect(NATSConfiguration(urls: natsURL, name: "baton-worker"), logger: logger)
        let workerService = Worker(connection: connection, services: definitions, configuration: worker.configuration(layout: common.layout(for: connection), shutdownGrace: common.shutdownGrace.duration), logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: workerService)]
        if metricsPort > 0 {
            let host = metricsHost, port = metricsPort
            services.append(.init(service: MetricsService { try await metrics.serve(host: host, port: port, logger: logger) }))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await connection.drainAndClose()
    }
}

/// The worker's metrics listener as a service of its group.
struct MetricsService: Service {
    let body: @Sendable () async throws -> Void
    func run() async throws { try await body() }
}
