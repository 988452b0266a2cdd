import ArgumentParser

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run a worker process with the example services.",
        discussion: ConfigurationHelp.discussion(
            example: "E.g. BATON_NATS_URL=nats://a:4222 BATON_CONCURRENCY=32, or `services = echo,slow` in the file."))

    @Option(name: .customLong("nats-url"), help: "NATS server URLs, comma-separated (env BATON_NATS_URL).")
    var natsURL = "nats://127.0.0.1:4222"

    @OptionGroup(title: "NATS security") var nats: NATSSecurityOptions

    @Option(help: "Port of the worker's /metrics and /healthz (0: off).")
    var metricsPort = 9091

    @Option(help: "Address of the metrics listener.")
    var metricsHost = "0.0.0.0"

    @OptionGroup var worker: WorkerOptions
    @OptionGroup var common: CommonOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        try await Role.worker(self).run()
    }
}
