import ArgumentParser
import BatonNATS
import BatonWorker
import Logging
import ServiceLifecycle

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run a worker process with the example services.")

    @Option(name: .customLong("nats-url"), help: "NATS server URLs, comma-separated (env BATON_NATS_URL).")
    var natsURL = environment("BATON_NATS_URL") ?? "nats://127.0.0.1:4222"

    @OptionGroup var worker: WorkerOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        common.bootstrapLogging()
        let logger = Logger(label: "baton.worker")
        let definitions = try worker.definitions()
        let connection = try await NATSConnection.connect(NATSConfiguration(urls: natsURL, name: "baton-worker"), logger: logger)
        let workerService = Worker(connection: connection, services: definitions, configuration: worker.configuration(layout: common.layout), logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: workerService)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await connection.drainAndClose()
    }
}
