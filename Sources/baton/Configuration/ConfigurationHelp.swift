import ArgumentParser

/// `--config FILE`, on every command. Its value is read before parsing (by
/// `ConfiguredArguments`); the option exists so ArgumentParser accepts and documents it.
struct ConfigFileOption: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "Configuration file: `option = value` (or `option: value`) lines, `[command]` sections (env BATON_CONFIG).",
            valueName: "file"))
    var path: String?
}

/// The help text about where option values come from.
enum ConfigurationHelp {
    /// The rule, for the root command's help.
    static let rule = """
        Every option of a command may also come from the environment or from a configuration \
        file: --some-option is BATON_SOME_OPTION=value in the environment, or `some-option = value` \
        (also `some_option: value`) in the file named by --config FILE or BATON_CONFIG. \
        Precedence: command-line flags, then environment, then file, then the default. \
        Flags take true or false (BATON_WEBHOOKS=false is --no-webhooks). Variables and \
        file entries that name no option of the command are ignored. \
        `baton config <command> [options]` shows each option's value and where it comes from.
        """

    /// The paragraph for each command's help, with an example of that command.
    static func discussion(example: String) -> String {
        """
        Where option values come from: the command line, then the environment (--some-option is \
        BATON_SOME_OPTION), then the configuration file (`some-option = value` or \
        `some_option: value`, named by --config FILE or BATON_CONFIG; entries under a \
        `[command]` section apply to that command only), then the defaults shown below. Flags \
        take true/false. \(example) `baton config <command>` shows where each value comes from.
        """
    }
}
