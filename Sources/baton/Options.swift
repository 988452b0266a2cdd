import ArgumentParser
import BatonExamples
import BatonGateway
import BatonNATS
import BatonHTTPServer
import BatonObservability
import BatonStore
import BatonWebhooks
import BatonWorker
import Foundation
import Logging

/// A duration on the command line: `10` (seconds), `10s`, `500ms`, `2m`, `1h`.
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var duration: Duration
    var text: String

    init?(argument: String) {
        let units: [(String, Duration)] = [("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600))]
        let unit = units.first { argument.hasSuffix($0.0) }
        let number = unit.map { String(argument.dropLast($0.0.count)) } ?? argument
        guard let value = Int(number), value >= 0 else { return nil }
        duration = (unit?.1 ?? .seconds(1)) * value
        text = argument
    }

    init(_ text: String) { self.init(argument: text)! }

    var description: String { text }
    var defaultValueDescription: String { text }
}

/// Options every role shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format: text (human-readable) or json (one object a line, with job and trace_id fields).")
    var logFormat: Observability.LogFormat = .text

    @Option(help: "On SIGTERM: how long a worker lets running jobs finish before handing them back, and how long a gateway waits for fast-lane answers it still has to record (its waiting clients get their 202 at once).")
    var shutdownGrace = DurationArgument("10s")

    @Option(help: "JetStream replicas of streams, buckets and consumers: auto (the number of NATS servers the connection knows, at most 3: 1 on a single server, 3 on a 3-node cluster) or a number.")
    var replicas: ReplicasArgument = .auto

    @Option(help: "How long job records, answers and events are kept.")
    var retention = DurationArgument("24h")

    @Option(help: "Durable jobs a service may have queued per priority (running ones included) before new ones are refused (0: unbounded). Every gateway and worker sets it on stream BATON_JOBS: give them all the same value.")
    var maxQueued = 100_000

    @Option(help: ArgumentHelp(
        "OTLP/HTTP collector to export traces to, e.g. http://localhost:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT; none: tracing off). Spans go to /v1/traces under it; the other OTEL_* variables apply too.",
        valueName: "url"))
    var otelEndpoint: String?

    /// The collector spans go to, if any: the option, else the standard OpenTelemetry variable
    /// (`explicit` false: a build without the OTel trait then warns instead of refusing to run).
    var tracingEndpoint: (url: String, explicit: Bool)? {
        if let otelEndpoint, !otelEndpoint.isEmpty { return (otelEndpoint, true) }
        guard let url = ProcessInfo.processInfo.environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !url.isEmpty else { return nil }
        return (url, false)
    }

    /// The layout for the NATS deployment `connection` reaches.
    func layout(for connection: NATSConnection) -> Layout {
        var layout = Layout()
        switch replicas {
        case .auto: layout.replicas = min(3, max(1, connection.knownServers.count))
        case .count(let count): layout.replicas = count
        }
        layout.retention = retention.duration
        layout.maxQueuedPerService = max(0, maxQueued)
        return layout
    }

    /// Bootstraps logging and metrics; returns what serves `/metrics`.
    @discardableResult
    func bootstrapLogging() -> MetricsEndpoint {
        MetricsEndpoint(registry: Observability.bootstrap(logLevel: logLevel, logFormat: logFormat))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension Observability.LogFormat: ExpressibleByArgument {}

/// Gateway options (also used by `baton dev`).
struct GatewayOptions: ParsableArguments {
    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: ArgumentHelp(
        "HTTPS on the HTTP port: the certificate chain, PEM (with --tls-key). Read at start: a renewed certificate takes effect on restart.",
        valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key of --tls-cert, PEM (unencrypted).", valueName: "file"))
    var tlsKey: String?

    @Option(help: "Serve /metrics, /healthz and /readyz on this port (plain HTTP) and nowhere else: the HTTP port then answers them 404. Without it they are on the HTTP port.")
    var adminPort: Int?

    @Option(help: "Address the admin port listens on (default: --host).")
    var adminHost: String?

    @Option(help: "How long a POST waits for the answer when the client does not say (Prefer: wait).")
    var defaultWait = DurationArgument("10s")

    @Option(help: "The longest wait a client may ask for with Prefer: wait=N.")
    var maxWait = DurationArgument("60s")

    @Option(help: "The largest request body in bytes (lowered to fit the NATS max payload).")
    var maxBody = 1 << 20

    @Option(help: "How long to keep waiting for a fast-lane answer after answering 202.")
    var fastLaneTimeout = DurationArgument("60s")

    @Option(help: "The deadline of a job whose request sets no Baton-Deadline (0: none). A job still queued at its deadline expires unrun.")
    var jobTtl = DurationArgument("0")

    @Option(help: "Heartbeat comment interval of idle server-sent-event streams.")
    var sseHeartbeat = DurationArgument("15s")

    @Option(help: "Webhook signing secret, whsec_<base64> (default: $BATON_WEBHOOK_SECRET). Without one, Callback-Url is refused (baton dev generates one).")
    var webhookSecret: String?

    @Option(help: "Webhook targets allowed although loopback/private/link-local: CIDRs or host names, comma-separated (baton dev adds loopback).")
    var webhookAllow = ""

    @Option(help: "Delays between webhook attempts, comma-separated (ms, s, m, h).")
    var webhookRetrySchedule = RetrySchedule.standard.description

    @Option(help: "Webhook connect timeout.")
    var webhookConnectTimeout = DurationArgument("5s")

    @Option(help: "Webhook total timeout per attempt.")
    var webhookTimeout = DurationArgument("15s")

    @Option(help: "A delivery unacknowledged this long (its gateway died) goes to another gateway (default: webhook timeout + 15s).")
    var webhookAckWait: DurationArgument?

    @Flag(inversion: .prefixedNo, help: "Deliver webhooks from this gateway (all gateways share the deliveries).")
    var webhooks = true

    @Option(help: "API keys file: one name:secret[:rate] or name:sha256:<hex>[:rate] a line (`baton keys hash` makes the second form; two lines of one name are two valid secrets, for rotation). Also $BATON_API_KEYS, comma-separated. Without keys, anyone may call.")
    var apiKeys: String?

    @Option(help: "Requests per second per API key (token bucket, burst twice that; 0: unlimited); a key's own :rate wins.")
    var rateLimit: Double = 0

    /// The configuration these options give, checked (files read, keys parsed) before anything
    /// starts; the caller sets its `layout` once connected.
    ///
    /// - Parameter dev: `baton dev`: loopback targets are allowed and a secret is generated when
    ///   none is given (returned so it can be printed).
    func configuration(port: Int, dev: Bool = false) throws -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.jobTTL = jobTtl.duration > .zero ? jobTtl.duration : nil
        configuration.sseHeartbeat = sseHeartbeat.duration
        var hooks = WebhookConfiguration()
        hooks.enabled = webhooks
        let secret = webhookSecret ?? ProcessInfo.processInfo.environment["BATON_WEBHOOK_SECRET"]
        do {
            if let secret, !secret.isEmpty {
                hooks.secret = try WebhookSecret(secret)
            } else if dev {
                hooks.secret = WebhookSecret.generate()
            }
            let allow = webhookAllow.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            hooks.policy = try WebhookPolicy(allow: allow + (dev ? WebhookPolicy.loopback : []))
            hooks.schedule = try RetrySchedule(parsing: webhookRetrySchedule)
        } catch let error as WebhookError {
            throw ValidationError(error.description)
        }
        hooks.connectTimeout = webhookConnectTimeout.duration
        hooks.timeout = webhookTimeout.duration
        hooks.ackWait = webhookAckWait?.duration
        configuration.webhooks = hooks
        do {
            configuration.apiKeys = try APIKeys.load(
                file: apiKeys, environment: ProcessInfo.processInfo.environment["BATON_API_KEYS"],
                defaultRate: rateLimit > 0 ? rateLimit : nil)
        } catch {
            throw ValidationError("\(error)")
        }
        configuration.host = host
        configuration.port = port
        configuration.tls = try tls()
        configuration.admin = try admin(port: port)
        configuration.defaultWait = defaultWait.duration
        configuration.maxWait = maxWait.duration
        configuration.maxBody = maxBody
        configuration.fastLaneTimeout = fastLaneTimeout.duration
        return configuration
    }
}

extension GatewayOptions {
    /// `--tls-cert` and `--tls-key`, both or neither.
    func tls() throws -> GatewayTLS? {
        switch (tlsCert, tlsKey) {
        case (nil, nil): return nil
        case (let cert?, let key?):
            do {
                return try GatewayTLS(certificateFile: cert, keyFile: key)
            } catch {
                throw ValidationError("\(error)")
            }
        case (nil, _?): throw ValidationError("--tls-key needs --tls-cert")
        case (_?, nil): throw ValidationError("--tls-cert needs --tls-key")
        }
    }

    func admin(port: Int) throws -> AdminListener? {
        guard let adminPort else {
            if adminHost != nil { throw ValidationError("--admin-host needs --admin-port") }
            return nil
        }
        guard (0...65535).contains(adminPort), adminPort != port || port == 0 else {
            throw ValidationError("--admin-port must be a port other than the HTTP port (\(port))")
        }
        return AdminListener(host: adminHost ?? host, port: adminPort)
    }
}

/// Worker options (also used by `baton dev`).
struct WorkerOptions: ParsableArguments {
    @Option(help: "Example services to run, comma-separated (\(ExampleServices.names.joined(separator: ", "))).")
    var services = "echo,echo-fast,slow,slow-fast,fail,flaky"

    @Option(help: "Services to run on the fast lane (core NATS request-reply), comma-separated.")
    var fast = ""

    @Option(help: "Handlers in flight at once, per service.")
    var concurrency = 16

    @Option(help: "A durable job not acknowledged (or heartbeated) for this long is redelivered.")
    var ackWait = DurationArgument("30s")

    @Option(help: "Attempts at a durable job (retryable failures and redeliveries after a crash) before it fails and goes to the dead-letter stream BATON_DLQ.")
    var maxAttempts = 5

    @Option(help: "Backoff before retrying a retryable failure; doubles per attempt (±20% jitter), at most --max-retry-backoff.")
    var retryBackoff = DurationArgument("1s")

    @Option(help: "The longest backoff between two attempts.")
    var maxRetryBackoff = DurationArgument("5m")

    func definitions() throws -> [ServiceDefinition] {
        let fastNames = Set(fast.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        return try services.split(separator: ",").map { raw in
            let name = String(raw).trimmingCharacters(in: .whitespaces)
            guard let definition = ExampleServices.definition(name, lane: fastNames.contains(name) ? .fast : nil) else {
                throw ValidationError("unknown service '\(name)'; known: \(ExampleServices.names.joined(separator: ", "))")
            }
            return definition
        }
    }

    func configuration(layout: Layout, shutdownGrace: Duration) -> WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.shutdownGrace = shutdownGrace
        configuration.concurrency = concurrency
        configuration.ackWait = ackWait.duration
        configuration.maxAttempts = maxAttempts
        configuration.retryBackoff = retryBackoff.duration
        configuration.maxRetryBackoff = maxRetryBackoff.duration
        configuration.layout = layout
        return configuration
    }
}

/// `--replicas auto|N`.
enum ReplicasArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    case auto
    case count(Int)

    init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let count = Int(argument), (1...5).contains(count) {
            self = .count(count)
        } else {
            return nil
        }
    }

    var description: String {
        switch self {
        case .auto: "auto"
        case .count(let count): String(count)
        }
    }

    var defaultValueDescription: String { description }
}
