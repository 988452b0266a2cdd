import ArgumentParser

/// `baton-bench`: the Swift side of `make bench` (bench/run.sh drives it and wrk).
@main
struct BatonBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton-bench",
        abstract: "Baselines and probes for `make bench`.",
        subcommands: [HelloCommand.self, NATSRequestReplyCommand.self, DrainCommand.self, JetStreamProbeCommand.self, JetStreamWorkerCommand.self]
    )
}
