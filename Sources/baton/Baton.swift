import ArgumentParser
import Foundation

@main
struct Baton: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "A sync-to-async REST gateway over NATS, and its command-line client.",
        discussion: """
            Run everything on one machine with `baton dev`. In production run `baton gateway` and \
            `baton worker` processes against a NATS (JetStream) server or cluster. Talk to a \
            gateway with `baton submit`, `status`, `result`, `watch`, `cancel` and `services`.

            \(ConfigurationHelp.rule)
            """,
        subcommands: [
            DevCommand.self, GatewayCommand.self, WorkerCommand.self, SubCommand.self,
            SubmitCommand.self, StatusCommand.self, ResultCommand.self, WatchCommand.self, CancelCommand.self,
            ServicesCommand.self, JobsCommand.self, ReplayCommand.self, KeysCommand.self, ConfigCommand.self,
        ]
    )

    static func main() async {
        MemoryTuning.apply()
        let arguments = configuredArguments()
        do {
            var command = try parseAsRoot(arguments.arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // A parse error may be about a value that came from the environment or the file.
            if !arguments.settings.isEmpty, exitCode(for: error) == .validationFailure {
                let sources = arguments.settings.map { "  \($0.displayed)   (\($0.source))" }
                printError("note: options taken from the environment and the configuration file:\n" + sources.joined(separator: "\n"))
            }
            exit(withError: error)
        }
    }

    /// The command line with the options from the environment (`BATON_*`) and the
    /// configuration file (`--config`, `BATON_CONFIG`) inserted; see `ConfiguredArguments`.
    static func configuredArguments() -> ConfiguredArguments {
        let given = Array(CommandLine.arguments.dropFirst())
        let catalog: OptionCatalog
        do {
            catalog = try OptionCatalog.load(Baton.self)
        } catch {
            printError("baton: warning: \(error); options from the environment and configuration files are ignored")
            return ConfiguredArguments(arguments: given)
        }
        // `baton config COMMAND …` resolves COMMAND's options itself.
        if catalog.command(for: given).command.path == ConfigCommand.path { return ConfiguredArguments(arguments: given) }
        do {
            let resolved = try ConfiguredArguments.resolve(given, environment: ProcessInfo.processInfo.environment, catalog: catalog)
            for warning in resolved.warnings { printError("baton: warning: \(warning)") }
            return resolved
        } catch {
            printError("Error: \(error)")
            exit(withError: ExitCode.validationFailure)
        }
    }
}
