import ArgumentParser
import BatonGateway
import BatonNATS
import Logging
import ServiceLifecycle

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Run a gateway node (the HTTP API) against NATS.")

    @Option(name: .customLong("nats-url"), help: "NATS server URLs, comma-separated (env BATON_NATS_URL).")
    var natsURL = environment("BATON_NATS_URL") ?? "nats://127.0.0.1:4222"

    @Option(help: "HTTP port.")
    var port = 8080

    @OptionGroup var gateway: GatewayOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        common.bootstrapLogging()
        let logger = Logger(label: "baton.gateway")
        let connection = try await NATSConnection.connect(NATSConfiguration(urls: natsURL, name: "baton-gateway"), logger: logger)
        let gatewayService = Gateway(connection: connection, configuration: try gateway.configuration(port: port, layout: common.layout), logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: gatewayService)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await connection.drainAndClose()
    }
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

#if canImport(Glibc)
import Glibc
#endif
