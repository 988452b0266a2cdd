import ArgumentParser

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Run a gateway node (the HTTP API) against NATS.",
        discussion: ConfigurationHelp.discussion(example: """
            E.g. BATON_NATS_URL=nats://a:4222,nats://b:4222, BATON_WEBHOOK_SECRET=whsec_…, or \
            `port = 8081` in the file. One exception: BATON_API_KEYS holds the keys themselves \
            (comma-separated name:secret[:rate] or name:sha256:<hex>[:rate]) and adds to those of the \
            --api-keys file.
            """))

    @Option(name: .customLong("nats-url"), help: "NATS server URLs, comma-separated (env BATON_NATS_URL).")
    var natsURL = "nats://127.0.0.1:4222"

    @OptionGroup(title: "NATS security") var nats: NATSSecurityOptions

    @Option(help: "HTTP port (HTTPS with --tls-cert): the API, the console and, without --admin-port, /metrics, /healthz and /readyz.")
    var port = 8080

    @OptionGroup var gateway: GatewayOptions
    @OptionGroup var common: CommonOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        try await Role.gateway(self).run()
    }
}
