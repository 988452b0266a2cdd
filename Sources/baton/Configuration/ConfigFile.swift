import Foundation

/// A configuration file: one `option = value` (or `option: value`) a line.
///
/// ```
/// # baton.conf
/// nats-url = nats://10.0.0.1:4222,nats://10.0.0.2:4222
/// log_level: debug
/// webhooks = false            # flags take true/false (yes/no, on/off, 1/0)
///
/// [worker]                    # only for `baton worker`
/// concurrency = 32
/// ```
///
/// Names are option names without the dashes; `_` may stand for `-` and case does not matter.
/// Values may be quoted ("…" with \" \\ \n \t escapes, or '…' taken literally); `#` starts a
/// comment at the start of a line or after a blank in an unquoted value. Entries before any
/// `[section]` apply to every command that has the option; entries in `[gateway]` only to
/// `baton gateway` (and win over the unsectioned ones). A repeatable option (`header`) may
/// appear several times.
struct ConfigFile: Sendable {
    struct Entry: Sendable, Equatable {
        /// The option name, normalised: lowercase, `-` between words, no leading dashes.
        var name: String
        var value: String
        /// The command the entry is for (`gateway`), nil for every command.
        var section: String?
        var line: Int
    }

    var path: String
    var entries: [Entry]

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the configuration file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError("\(path): not UTF-8 text")
        }
        try self.init(parsing: text, path: path)
    }

    init(parsing text: String, path: String) throws {
        self.path = path
        var entries: [Entry] = []
        var section: String?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw ConfigurationError("\(path):\(number): a section is written [command]") }
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                    .replacingOccurrences(of: ".", with: " ").lowercased()
                section = name.isEmpty ? nil : name
                continue
            }
            guard let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw ConfigurationError("\(path):\(number): expected `option = value` or `option: value`, got `\(line)`")
            }
            let name = Self.normalize(String(line[..<separator]))
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                throw ConfigurationError("\(path):\(number): `\(line[..<separator].trimmingCharacters(in: .whitespaces))` is not an option name")
            }
            let value = try Self.value(String(line[line.index(after: separator)...]), at: "\(path):\(number)")
            entries.append(Entry(name: name, value: value, section: section, line: number))
        }
        self.entries = entries
    }

    /// The entries that apply to the command at `path` (`["gateway"]`), by option name: the
    /// unsectioned ones, replaced by those of the command's own section where it has any.
    func entries(for commandPath: [String]) -> [String: [Entry]] {
        let own = commandPath.joined(separator: " ")
        var global: [String: [Entry]] = [:]
        var specific: [String: [Entry]] = [:]
        for entry in entries {
            if entry.section == nil {
                global[entry.name, default: []].append(entry)
            } else if entry.section == own {
                specific[entry.name, default: []].append(entry)
            }
        }
        return global.merging(specific) { _, sectioned in sectioned }
    }

    /// `--Log_Level` → `log-level`.
    static func normalize(_ name: String) -> String {
        var name = name.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "_", with: "-")
        while name.hasPrefix("-") { name.removeFirst() }
        return name
    }

    /// The value after the separator: unquoted, escapes resolved, trailing comment removed.
    private static func value(_ raw: String, at location: String) throws -> String {
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard let quote = text.first, quote == "\"" || quote == "'" else {
            // Unquoted: a `#` after a blank starts a comment.
            var value = text
            if let comment = value.range(of: " #") ?? value.range(of: "\t#") { value = String(value[..<comment.lowerBound]) }
            return value.trimmingCharacters(in: .whitespaces)
        }
        var value = ""
        var index = text.index(after: text.startIndex)
        var closed = false
        while index < text.endIndex {
            let c = text[index]
            if c == quote {
                closed = true
                index = text.index(after: index)
                break
            }
            if quote == "\"", c == "\\", text.index(after: index) < text.endIndex {
                index = text.index(after: index)
                switch text[index] {
                case "n": value.append("\n")
                case "t": value.append("\t")
                default: value.append(text[index])
                }
            } else {
                value.append(c)
            }
            index = text.index(after: index)
        }
        let rest = text[index...].trimmingCharacters(in: .whitespaces)
        guard closed, rest.isEmpty || rest.hasPrefix("#") else {
            throw ConfigurationError("\(location): unterminated quote or text after the closing quote")
        }
        return value
    }
}
