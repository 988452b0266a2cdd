import ArgumentParser
import BatonGateway
import BatonNATS
import Logging
import ServiceLifecycle

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Run a gateway node (the HTTP API) against NATS.",
        discussion: ConfigurationHelp.discussion(example: """
            E.g. BATON_NATS_URL=nats://a:4222,nats://b:4222, BATON_WEBHOOK_SECRET=whsec_…, or \
            `port = 8081` in the file. One exception: BATON_API_KEYS holds the keys themselves \
            (comma-separated name:secret[:rate]) and adds to those of the --api-keys file.
            """))

    @Option(name: .customLong("nats-url"), help: "NATS server URLs, comma-separated (env BATON_NATS_URL).")
    var natsURL = "nats://127.0.0.1:4222"

    @Option(help: "HTTP port.")
    var port = 8080

    @OptionGroup var gateway: GatewayOptions
    @OptionGroup var common: CommonOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        let metrics = common.bootstrapLogging()
        let logger = Logger(label: "baton.gateway")
        let connection = try await NATSConnection.connect(NATSConfiguration(urls: natsURL, name: "baton-gateway"), logger: logger)
        var configuration = try gateway.configuration(port: port, layout: common.layout(for: connection))
        configuration.metrics = metrics
        configuration.shutdownGrace = common.shutdownGrace.duration
        if configuration.apiKeys == nil {
            logger.notice("API keys are off: any client may call (--api-keys FILE or BATON_API_KEYS to require them)")
        }
        let gatewayService = Gateway(connection: connection, configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: gatewayService)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await connection.drainAndClose()
    }
}
