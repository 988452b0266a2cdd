import ArgumentParser
import BatonNATS
import Foundation

/// `baton config COMMAND [OPTIONS]`: each option of COMMAND, its value and where it comes from.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show each option of a command, its value and where it comes from (flag, environment, file, default).",
        discussion: """
            Give the command and, optionally, the options you would run it with: \
            `baton config gateway --port 9000 --config baton.conf`. Nothing is started. \
            Secret values are shortened (a NATS token shows as <set>, URL passwords as <redacted>).

            \(ConfigurationHelp.rule)
            """)

    static let path = ["config"]

    @Argument(parsing: .captureForPassthrough, help: "The command and its options, e.g. `gateway --port 9000`.")
    var command: [String] = []

    func run() throws {
        if command.isEmpty || ["-h", "--help", "help"].contains(command[0]) { throw CleanExit.helpRequest(Self.self) }
        let catalog = try OptionCatalog.load(Baton.self)
        let resolved = try ConfiguredArguments.resolve(command, environment: ProcessInfo.processInfo.environment, catalog: catalog)
        guard let target = resolved.command, !target.path.isEmpty else {
            let names = catalog.root.subcommands.map(\.name).filter { !["help", "config"].contains($0) }.joined(separator: ", ")
            throw ValidationError("name a command: \(names)")
        }
        for warning in resolved.warnings { printError("warning: \(warning)") }
        let given = Self.givenValues(Array(command.dropFirst(target.path.count)), command: target)
        var rows: [[String]] = [["OPTION", "VALUE", "SOURCE"]]
        for option in target.options where !OptionCatalog.reserved.contains(option.name) && !option.negates {
            let value: String
            let source: String
            if let flagValue = given[option.name] {
                (value, source) = (flagValue, "command line")
            } else if let setting = resolved.settings.first(where: { $0.option == option.name || $0.option == option.inverse }) {
                value = option.kind == .flag ? Self.flagValue(setting.arguments, option: option) : setting.value
                source = setting.source.description
            } else {
                value = option.kind == .flag ? (option.defaultValue == nil ? "false" : "true") : (option.defaultValue ?? "(none)")
                source = "default"
            }
            rows.append(["--\(option.name)", Self.masked(value, option: option.name), source])
        }
        if let file = resolved.configFile {
            rows.append(["--config", file, given["config"] != nil ? "command line" : "environment BATON_CONFIG"])
        }
        print(Table(rows: rows).rendered, terminator: "")
    }

    /// What the command line says for each option (the last occurrence; flags as true/false).
    static func givenValues(_ arguments: [String], command: OptionCatalog.Command) -> [String: String] {
        var values: [String: String] = [:]
        var index = 0
        while index < arguments.count, arguments[index] != "--" {
            let word = arguments[index]
            index += 1
            guard word.hasPrefix("--") else { continue }
            let parts = word.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            if name == "config" {
                values["config"] = parts.count > 1 ? String(parts[1]) : (index < arguments.count ? arguments[index] : "")
                continue
            }
            guard let option = command.options.first(where: { $0.longNames.contains(name) || $0.inverse == name }) else { continue }
            switch option.kind {
            case .flag:
                let own = option.longNames.contains(name)
                let key = option.negates ? (option.inverse ?? option.name) : option.name
                let on = own != option.negates
                values[key] = on ? "true" : "false"
            case .option:
                let value: String
                if parts.count > 1 {
                    value = String(parts[1])
                } else {
                    value = index < arguments.count ? arguments[index] : ""
                    index += 1
                }
                values[option.name] = option.isRepeating ? [values[option.name], value].compactMap { $0 }.joined(separator: ", ") : value
            }
        }
        return values
    }

    private static func flagValue(_ arguments: [String], option: OptionCatalog.Option) -> String {
        guard let first = arguments.first else { return "false" }
        return first == "--\(option.name)" ? "true" : "false"
    }

    private static func masked(_ value: String, option: String) -> String {
        value == "(none)" ? value : SecretValues.displayed(value, option: option)
    }
}

/// How option values that are or hold secrets are shown (`baton config`, messages): a NATS
/// token as `<set>`, a webhook secret or API key shortened to its first 8 characters, the user
/// information of NATS URLs (`nats://user:password@…`) redacted.
enum SecretValues {
    static func displayed(_ value: String, option: String) -> String {
        if option == "nats-token" { return "<set>" }
        if option == "nats-url" {
            return value.split(separator: ",", omittingEmptySubsequences: false)
                .map { NATSSecurity.redacting(url: String($0)) }.joined(separator: ",")
        }
        guard option.contains("secret") || option == "api-key", value.count > 10 else { return value }
        return String(value.prefix(8)) + "…"
    }
}

/// Columns padded to their widest cell.
struct Table {
    var rows: [[String]]

    var rendered: String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
