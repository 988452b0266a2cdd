import ArgumentParser

@main
struct Baton: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "A sync-to-async REST gateway over NATS.",
        discussion: """
            Run everything on one machine with `baton dev`. In production run `baton gateway` and
            `baton worker` processes against a NATS (JetStream) server or cluster.
            """,
        subcommands: [DevCommand.self, GatewayCommand.self, WorkerCommand.self, SubCommand.self]
    )

    static func main() async {
        MemoryTuning.apply()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
