import ArgumentParser
import BatonExamples
import BatonGateway
import BatonNATS
import BatonStore
import BatonWorker
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

    @Option(help: "JetStream replicas for streams and buckets (3 on a 3-node cluster).")
    var replicas: Int = 1

    @Option(help: "How long job records, answers and events are kept.")
    var retention = DurationArgument("24h")

    var layout: Layout {
        var layout = Layout()
        layout.replicas = replicas
        layout.retention = retention.duration
        return layout
    }

    func bootstrapLogging() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Gateway options (also used by `baton dev`).
struct GatewayOptions: ParsableArguments {
    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "How long a POST waits for the answer when the client does not say (Prefer: wait).")
    var defaultWait = DurationArgument("10s")

    @Option(help: "The longest wait a client may ask for with Prefer: wait=N.")
    var maxWait = DurationArgument("60s")

    @Option(help: "The largest request body in bytes (lowered to fit the NATS max payload).")
    var maxBody = 1 << 20

    @Option(help: "How long to keep waiting for a fast-lane answer after answering 202.")
    var fastLaneTimeout = DurationArgument("60s")

    func configuration(port: Int, layout: Layout) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.defaultWait = defaultWait.duration
        configuration.maxWait = maxWait.duration
        configuration.maxBody = maxBody
        configuration.fastLaneTimeout = fastLaneTimeout.duration
        configuration.layout = layout
        return configuration
    }
}

/// Worker options (also used by `baton dev`).
struct WorkerOptions: ParsableArguments {
    @Option(help: "Example services to run, comma-separated (\(ExampleServices.names.joined(separator: ", "))).")
    var services = "echo,echo-fast,slow,fail"

    @Option(help: "Services to run on the fast lane (core NATS request-reply), comma-separated.")
    var fast = ""

    @Option(help: "Handlers in flight at once, per service.")
    var concurrency = 16

    @Option(help: "A durable job not acknowledged (or heartbeated) for this long is redelivered.")
    var ackWait = DurationArgument("30s")

    @Option(help: "Deliveries of a durable job before JetStream gives up on it.")
    var maxDeliver = 5

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

    func configuration(layout: Layout) -> WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.concurrency = concurrency
        configuration.ackWait = ackWait.duration
        configuration.maxDeliver = maxDeliver
        configuration.layout = layout
        return configuration
    }
}
