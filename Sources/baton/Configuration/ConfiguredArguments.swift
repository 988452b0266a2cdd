import Foundation

/// The command line with the options that come from the environment and the configuration
/// file added, so ArgumentParser parses (and validates, and documents) all of them alike.
///
/// The rule: an option `--some-option` of the command being run may also be given as the
/// environment variable `BATON_SOME_OPTION` or as `some-option = value` (`some_option: value`)
/// in the file named by `--config FILE` or `BATON_CONFIG`. Precedence: flags on the command
/// line, then the environment, then the file, then the option's default. Variables and file
/// entries that name no option of the command are ignored (file entries that name no option of
/// any command draw a warning: probably a typo).
///
/// How: the command's options come from ArgumentParser's description of the tool
/// (`OptionCatalog`); for each option the user did not give, the environment or file value is
/// inserted as `--name=value` right after the subcommand's name, before the user's arguments.
/// Flags take true/false: `BATON_WEBHOOKS=false` inserts `--no-webhooks`.
struct ConfiguredArguments: Sendable {
    /// Where an inserted value came from.
    enum Source: Sendable, Equatable, CustomStringConvertible {
        case environment(String)
        case file(path: String, line: Int)

        var description: String {
            switch self {
            case .environment(let name): "environment \(name)"
            case .file(let path, let line): "\(path):\(line)"
            }
        }
    }

    /// One option set from the environment or the file.
    struct Setting: Sendable {
        var option: String
        var value: String
        var source: Source
        /// What was inserted into the command line.
        var arguments: [String]

        /// The inserted words, secrets shortened, for messages.
        var displayed: String {
            arguments.map { word in
                guard word.hasPrefix("--"), let equals = word.firstIndex(of: "=") else { return word }
                let name = word[word.index(word.startIndex, offsetBy: 2)..<equals]
                let value = word[word.index(after: equals)...]
                return "--\(name)=\(SecretValues.displayed(String(value), option: String(name)))"
            }.joined(separator: " ")
        }
    }

    /// The whole command line for `parseAsRoot` (without the executable).
    var arguments: [String]
    /// The command that runs and what was inserted for it.
    var command: OptionCatalog.Command?
    var settings: [Setting] = []
    /// Options the user gave on the command line (canonical names).
    var given: Set<String> = []
    var configFile: String?
    var warnings: [String] = []

    /// Variables with the `BATON_` prefix that are not the spelling of an option: they keep
    /// their own meaning. `BATON_API_KEYS` holds keys (`--api-keys` names a file of keys).
    static let ownMeaning: Set<String> = ["BATON_API_KEYS", "BATON_CONFIG"]

    static func resolve(_ arguments: [String], environment: [String: String], catalog: OptionCatalog) throws -> ConfiguredArguments {
        let (command, consumed) = catalog.command(for: arguments)
        var result = ConfiguredArguments(arguments: arguments)
        // The root command has no options of its own; `baton --help` and friends are left alone.
        guard consumed > 0 else { return result }
        result.command = command
        let userArguments = Array(arguments[consumed...])
        let named = Self.namedTokens(userArguments)
        if named.contains(where: { ["help", "h", "experimental-dump-help", "version"].contains($0.name) }) { return result }
        for option in command.options {
            let names = option.longNames + option.shortNames + option.singleDashNames + (option.inverse.map { [$0] } ?? [])
            if named.contains(where: { names.contains($0.name) }) { result.given.insert(option.name) }
        }

        // The configuration file: --config on the command line, else BATON_CONFIG.
        var file: ConfigFile?
        if let path = named.last(where: { $0.name == "config" }).flatMap({ $0.value ?? Self.value(after: $0.index, in: userArguments) })
            ?? environment["BATON_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 })
        {
            file = try ConfigFile(path: path)
            result.configFile = path
        }
        let fileEntries = file?.entries(for: command.path) ?? [:]
        if let file {
            for entry in file.entries where entry.section == nil || entry.section == command.path.joined(separator: " ") {
                if OptionCatalog.reserved.contains(entry.name) {
                    result.warnings.append("\(file.path):\(entry.line): `\(entry.name)` cannot be set in a configuration file; ignored")
                } else if !catalog.anyCommandHasOption(named: entry.name) {
                    result.warnings.append("\(file.path):\(entry.line): no baton command has an option --\(entry.name); ignored")
                }
            }
        }

        var handled = Set<String>()
        for option in command.options where !OptionCatalog.reserved.contains(option.name) {
            guard !handled.contains(option.name), !result.given.contains(option.name) else { continue }
            handled.insert(option.name)
            if let inverse = option.inverse { handled.insert(inverse) }
            if let setting = try Self.setting(for: option, in: command, environment: environment, file: fileEntries, filePath: file?.path ?? "") {
                result.settings.append(setting)
            }
        }
        let inserted = result.settings.flatMap(\.arguments)
        result.arguments = Array(arguments[..<consumed]) + inserted + userArguments
        return result
    }

    /// The environment's value, else the file's, for one option (or one pair of inverse flags).
    private static func setting(
        for option: OptionCatalog.Option, in command: OptionCatalog.Command,
        environment: [String: String], file: [String: [ConfigFile.Entry]], filePath: String
    ) throws -> Setting? {
        // The names to look for: the option's long names, and for a flag pair both flags (the
        // negative one with its meaning reversed).
        var candidates: [(name: String, negated: Bool)] = option.longNames.map { ($0, option.negates) }
        if let inverse = option.inverse { candidates.append((inverse, !option.negates)) }

        for candidate in candidates {
            let variable = OptionCatalog.environmentName(for: candidate.name)
            guard !ownMeaning.contains(variable), let value = environment[variable] else { continue }
            if let arguments = try Self.arguments(for: option, in: command, values: [value], negated: candidate.negated, source: variable) {
                return Setting(option: option.name, value: value, source: .environment(variable), arguments: arguments)
            }
        }
        for candidate in candidates {
            guard let entries = file[candidate.name], let last = entries.last else { continue }
            let values = option.isRepeating && option.kind == .option ? entries.map(\.value) : [last.value]
            let source = Source.file(path: filePath, line: last.line)
            if let arguments = try Self.arguments(for: option, in: command, values: values, negated: candidate.negated, source: source.description) {
                return Setting(option: option.name, value: values.joined(separator: ", "), source: source, arguments: arguments)
            }
        }
        return nil
    }

    /// The command-line words for `values` of `option`; nil when nothing is to be inserted
    /// (a flag set to its default, an empty flag value).
    private static func arguments(
        for option: OptionCatalog.Option, in command: OptionCatalog.Command, values: [String], negated: Bool, source: String
    ) throws -> [String]? {
        switch option.kind {
        case .option:
            return values.map { value in
                if let long = option.longNames.first { return "--\(long)=\(value)" }
                if let single = option.singleDashNames.first { return "-\(single)=\(value)" }
                return "-\(option.shortNames[0])\(value)"
            }
        case .flag:
            let text = values.last?.trimmingCharacters(in: .whitespaces) ?? ""
            if text.isEmpty { return nil }
            let spelled = option.longNames.first.map { "--\($0)" } ?? "-\(option.shortNames.first ?? option.name)"
            if option.isRepeating, let count = Int(text), count >= 0 {
                return Array(repeating: spelled, count: count)
            }
            guard var on = Self.boolean(text) else {
                throw ConfigurationError("\(source): --\(option.name) is a flag: expected true or false, got '\(text)'")
            }
            if negated { on.toggle() }
            // `on` now says whether this option's own flag is to be given.
            if let inverse = option.inverse {
                return [on ? spelled : "--\(inverse)"]
            }
            return on ? [spelled] : nil
        }
    }

    static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on", "1": true
        case "false", "no", "off", "0": false
        default: nil
        }
    }

    /// The named words of a command line up to `--`: `--name`, `--name=value`, `-x`, `-xyz`.
    private static func namedTokens(_ arguments: [String]) -> [(name: String, value: String?, index: Int)] {
        var result: [(name: String, value: String?, index: Int)] = []
        for (index, word) in arguments.enumerated() {
            if word == "--" { break }
            if word.hasPrefix("--") {
                let body = word.dropFirst(2)
                let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                result.append((String(parts[0]), parts.count > 1 ? String(parts[1]) : nil, index))
            } else if word.hasPrefix("-"), word.count > 1 {
                let body = word.dropFirst()
                // `-name` (single-dash long name) and every character as a short name.
                let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                result.append((String(parts[0]), parts.count > 1 ? String(parts[1]) : nil, index))
                if let first = body.first, first.isLetter { result.append((String(first), nil, index)) }
            }
        }
        return result
    }

    private static func value(after index: Int, in arguments: [String]) -> String? {
        index + 1 < arguments.count ? arguments[index + 1] : nil
    }
}
