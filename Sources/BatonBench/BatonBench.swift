import ArgumentParser
import BatonNATS
import Logging

/// `baton-bench`: the Swift side of `make bench` (bench/run.sh drives it and wrk).
@main
struct BatonBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton-bench",
        abstract: "Baselines and probes for `make bench`.",
        subcommands: [HelloCommand.self, NATSRequestReplyCommand.self, DrainCommand.self, PurgeCommand.self, JetStreamProbeCommand.self, JetStreamWorkerCommand.self]
    )
}

/// A bench process's logger: warnings and worse only, so that its output is its measurements.
func benchLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// A connection of a bench process to `url`, named `name` (as `nats server report connections`
/// shows it).
func benchConnection(_ url: String, name: String, logger: Logger) async throws -> NATSConnection {
    try await NATSConnection.connect(NATSConfiguration(urls: url, name: name), logger: logger)
}
