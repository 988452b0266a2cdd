import ArgumentParser
import Foundation

struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run the whole system locally: an embedded nats-server, a gateway and the example workers.",
        discussion: ConfigurationHelp.discussion(
            example: "E.g. BATON_PORT=9000 baton dev, or `[dev]` then `services = echo,slow` in the file."))

    @Option(help: "HTTP port of the gateway.")
    var port = 8080

    @Option(help: "Client port of the embedded nats-server (0: any free port).")
    var natsPort = 4222

    @Option(help: "JetStream store directory (default: a temporary one, removed on exit).")
    var store: String?

    @Option(help: ArgumentHelp(
        "The nats-server binary to start (default: $BATON_NATS_SERVER, else .tools/nats/bin/nats-server, else nats-server on PATH).",
        valueName: "path"))
    var natsServer: String?

    @Option(name: .customLong("nats-url"), help: ArgumentHelp(
        "Use this NATS server (URLs, comma-separated) instead of starting one; --nats-port, --store and --nats-server then do nothing, and the NATS security options apply.",
        valueName: "urls"))
    var natsURL: String?

    @OptionGroup(title: "NATS security (with --nats-url)") var nats: NATSSecurityOptions

    @OptionGroup var gateway: GatewayOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var common: CommonOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        try await Role.dev(self).run()
    }

    /// - Parameters:
    ///   - tls: the gateway serves HTTPS (`--tls-cert`); `curl` then needs the CA (`--cacert`).
    ///   - adminPort: where `/metrics`, `/healthz` and `/readyz` are, when not on `port`.
    static func printWelcome(port: Int, tls: Bool, adminPort: Int?, natsURL: String, natsServer: String, webhookSecret: String, apiKeys: String) {
        let base = "\(tls ? "https" : "http")://127.0.0.1:\(port)"
        let admin = adminPort.map { "http://127.0.0.1:\($0)" } ?? base
        let text = """

            Baton is running.
              gateway   \(base)   (health: \(admin)/healthz, ready: \(admin)/readyz)
              NATS      \(natsURL)   (watch: baton sub 'baton.progress.>' --nats-url \(natsURL))
              server    \(natsServer)
              services  echo, echo-fast (fast lane), slow, fail, flaky
              API keys  \(apiKeys)
              metrics   \(admin)/metrics
              webhooks  signed with \(webhookSecret)   (loopback targets allowed)

            Try:
              curl -i \(base)/v1/jobs/echo -H 'Content-Type: text/plain' -d 'hello baton'
              curl -i \(base)/v1/jobs/slow -H 'Prefer: wait=1' -d '{"ms": 5000, "steps": 5}'
              curl -i \(base)/v1/jobs/slow -H 'Prefer: respond-async' -d '{"ms": 2000, "steps": 4}'
            then follow the Location it gives: curl -i \(base)/v1/jobs/<id>  and  \(base)/v1/jobs/<id>/result
              long-poll: curl -i -H 'Prefer: wait=30' \(base)/v1/jobs/<id>/result
              events:    curl -N \(base)/v1/jobs/<id>/events
              cancel:    curl -i -X DELETE \(base)/v1/jobs/<id>
              webhook:   python3 examples/webhook-receiver.py --secret \(webhookSecret) &
                         curl -i \(base)/v1/jobs/slow -H 'Prefer: respond-async' -H 'Callback-Url: http://127.0.0.1:9090/hook' -d '{"ms": 1000}'

            Ctrl-C stops everything.

            """
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
