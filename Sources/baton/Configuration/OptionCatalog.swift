import ArgumentParser
import Foundation

/// The named options of every `baton` command, as ArgumentParser itself describes them.
///
/// The source is ArgumentParser's tool description — the JSON of `--experimental-dump-help`
/// (schema `ToolInfoV0`, `serializationVersion` 0), which `ParsableCommand._dumpHelp()` renders
/// in-process. The `ArgumentParserToolInfo` module that defines the schema is not a product of
/// swift-argument-parser, so the few fields read here are decoded by the private mirrors below.
/// Nothing is listed by hand: an option added to any command is configurable at once.
struct OptionCatalog: Sendable {
    /// One command of the tree (the root has an empty path).
    struct Command: Sendable {
        var name: String
        var aliases: [String]
        var path: [String]
        var options: [Option]
        var subcommands: [Command]

        /// The option with this long name (without dashes), if any.
        func option(named name: String) -> Option? {
            options.first { $0.longNames.contains(name) }
        }
    }

    /// A named argument: an option (takes a value) or a flag.
    struct Option: Sendable, Equatable {
        enum Kind: Sendable { case option, flag }

        var kind: Kind
        /// Long names without the dashes (`nats-url`), preferred first.
        var longNames: [String]
        /// Single-character names (`h`) and single-dash long names (`name` for `-name`).
        var shortNames: [String]
        var singleDashNames: [String]
        /// Options that may be given several times (arrays), counted flags.
        var isRepeating: Bool
        var defaultValue: String?
        var abstract: String?
        /// For a flag with an inversion (`--webhooks` / `--no-webhooks`): the long name of the
        /// other flag of the pair; `negates` tells whether this flag is the one that says no.
        var inverse: String?
        var negates = false

        var name: String { longNames.first ?? shortNames.first ?? singleDashNames.first ?? "" }

        /// `--name` spelled as an environment variable: `BATON_NAME`.
        var environmentName: String { OptionCatalog.environmentName(for: name) }
    }

    let root: Command

    /// Options no configuration source may set: ArgumentParser's own and the one that names the
    /// configuration file.
    static let reserved: Set<String> = [
        "help", "h", "version", "experimental-dump-help", "generate-completion-script", "config",
    ]

    static func environmentName(for option: String) -> String {
        "BATON_" + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Reads the tool description of `command` (the root command type).
    static func load(_ command: any ParsableCommand.Type) throws -> OptionCatalog {
        let json = command._dumpHelp()
        let info: ToolInfo
        do {
            info = try JSONDecoder().decode(ToolInfo.self, from: Data(json.utf8))
        } catch {
            throw ConfigurationError("cannot read the option list from ArgumentParser's tool description: \(error)")
        }
        guard info.serializationVersion == 0 else {
            throw ConfigurationError("unsupported ArgumentParser tool description version \(info.serializationVersion)")
        }
        return OptionCatalog(root: Self.command(info.command, path: []))
    }

    /// The command named by the leading words of `arguments` (`["gateway", "--port", "1"]` →
    /// `gateway`), and how many words named it.
    func command(for arguments: [String]) -> (command: Command, consumed: Int) {
        var current = root
        var consumed = 0
        while consumed < arguments.count,
            let next = current.subcommands.first(where: { $0.name == arguments[consumed] || $0.aliases.contains(arguments[consumed]) })
        {
            current = next
            consumed += 1
        }
        return (current, consumed)
    }

    /// Every command of the tree, depth first.
    var allCommands: [Command] {
        var result: [Command] = []
        func visit(_ command: Command) {
            result.append(command)
            command.subcommands.forEach(visit)
        }
        visit(root)
        return result
    }

    /// Whether any command of the tool has an option with this long name.
    func anyCommandHasOption(named name: String) -> Bool {
        allCommands.contains { $0.option(named: name) != nil }
    }

    private static func command(_ info: CommandInfo, path: [String]) -> Command {
        var options: [Option] = (info.arguments ?? []).compactMap { argument in
            guard argument.kind != "positional", let names = argument.names, !names.isEmpty else { return nil }
            var longNames = names.filter { $0.kind == "long" }.map(\.name)
            if let preferred = argument.preferredName, preferred.kind == "long", let index = longNames.firstIndex(of: preferred.name) {
                longNames.insert(longNames.remove(at: index), at: 0)
            }
            return Option(
                kind: argument.kind == "flag" ? .flag : .option,
                longNames: longNames,
                shortNames: names.filter { $0.kind == "short" }.map(\.name),
                singleDashNames: names.filter { $0.kind == "longWithSingleDash" }.map(\.name),
                isRepeating: argument.isRepeating,
                defaultValue: argument.defaultValue,
                abstract: argument.abstract)
        }
        // Pair the flags of an inversion: `x`/`no-x` (.prefixedNo), `enable-x`/`disable-x`.
        let flagNames = Set(options.filter { $0.kind == .flag }.map(\.name))
        for index in options.indices where options[index].kind == .flag {
            let name = options[index].name
            for (no, yes) in [("no-", ""), ("disable-", "enable-")] where name.hasPrefix(no) {
                let positive = yes + name.dropFirst(no.count)
                if flagNames.contains(positive), let other = options.firstIndex(where: { $0.name == positive }) {
                    options[index].inverse = positive
                    options[index].negates = true
                    options[other].inverse = name
                }
            }
        }
        let subcommands = (info.subcommands ?? []).map { Self.command($0, path: path + [$0.commandName]) }
        return Command(name: info.commandName, aliases: info.aliases ?? [], path: path, options: options, subcommands: subcommands)
    }
}

// The fields of ArgumentParser's ToolInfoV0 JSON that the catalogue reads; others are ignored.
private struct ToolInfo: Decodable {
    var serializationVersion: Int
    var command: CommandInfo
}

private struct CommandInfo: Decodable {
    var commandName: String
    var aliases: [String]?
    var subcommands: [CommandInfo]?
    var arguments: [ArgumentInfo]?
}

private struct ArgumentInfo: Decodable {
    struct Name: Decodable {
        var kind: String
        var name: String
    }

    var kind: String
    var names: [Name]?
    var preferredName: Name?
    var isRepeating: Bool
    var defaultValue: String?
    var abstract: String?
}

/// A configuration problem (bad file, bad value): reported like a usage error.
struct ConfigurationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
