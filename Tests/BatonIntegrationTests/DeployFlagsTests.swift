import Foundation
import Synchronization
import Testing

/// The deployment files (everything under `deploy/`, and `nats/`) name only options the built
/// `baton` really has: every `baton <command> --flag` invocation (systemd `ExecStart`, compose
/// and Kubernetes `command:`, shell scripts, examples in comments and Markdown) is checked
/// against `baton <command> --help`, every `BATON_*` variable set or read in an environment
/// file or manifest against the options of `baton gateway` and `baton worker` (`BATON_MAX_WAIT`
/// is `--max-wait`), and `--flags` mentioned in Markdown or config comments against all
/// commands. A misspelt option is otherwise silently ignored (variables) or found only when the
/// unit or pod fails to start (flags).
@Suite("deploy files name real flags", .timeLimit(.minutes(1)))
struct DeployFlagsTests {
    @Test func everyFlagAndVariableInTheDeployFilesExists() async throws {
        let files = try DeployScan.files(under: ["deploy", "nats"], root: repositoryRoot)
        #expect(files.count >= 10, "found only \(files.map(\.path))")
        let cli = try await BatonHelp.shared()
        var references: [DeployScan.Reference] = []
        for file in files { references += DeployScan.references(in: file, subcommands: cli.subcommands) }
        try await cli.loadCommands(Set(references.compactMap(\.command)))

        let problems = references.compactMap { cli.problem(with: $0) }
        #expect(problems.isEmpty, "\n\(problems.joined(separator: "\n"))")

        // The scan sees what it should, so an empty problem list means something.
        let invoked = Set(references.compactMap { $0.kind == .flag ? $0.command : nil })
        #expect(invoked.isSuperset(of: ["gateway", "worker"]), "invocations found: \(invoked.sorted())")
        let variables = Set(references.filter { $0.kind == .variable }.map(\.name))
        #expect(variables.isSuperset(of: ["BATON_NATS_URL", "BATON_WEBHOOK_SECRET", "BATON_REPLICAS"]), "\(variables.sorted())")
        let flagged = Set(references.filter { $0.kind == .flag }.map(\.name))
        #expect(flagged.isSuperset(of: ["--nats-url", "--shutdown-grace", "--metrics-port", "--api-keys"]), "\(flagged.sorted())")
    }

    /// The checker itself: misspelt flags, variables and commands in each kind of file are
    /// reported, correct ones are not.
    @Test func aWrongFlagOrVariableIsReported() async throws {
        let cli = try await BatonHelp.shared()
        try await cli.loadCommands(["gateway", "worker"])
        let samples: [(path: String, text: String, wrong: Set<String>)] = [
            ("deploy/systemd/x-gateway.service", """
                ExecStart=/usr/local/bin/baton gateway \\
                    --nats-url nats://a:4222 --prot 8080 \\
                    --shutdown-grace=10s
                Environment=BATON_MAX_WAITT=60s
                """, ["--prot", "BATON_MAX_WAITT"]),
            ("deploy/kubernetes/x.yaml", """
                command:
                  - baton
                  - worker
                  - --metrics-prot=9091
                env:
                  - name: BATON_CONCURRENCY
                  - name: BATON_CONCURENCY
                data:
                  BATON_WEBHOOK_SECRETS: x
                """, ["--metrics-prot", "BATON_CONCURENCY", "BATON_WEBHOOK_SECRETS"]),
            ("deploy/compose/x.yml", """
                command: ["baton", "gateway", "--port", "8080",
                          "--max-wiat", "60s"]
                other: ["nats-server", "--cluster_name", "x", "--routes", "y"]
                """, ["--max-wiat"]),
            ("deploy/x/worker.env", "BATON_API_KEYS=a:b\n#BATON_ACK_WAIT=30s\n", ["BATON_API_KEYS"]),
            ("deploy/README.md", "Run `baton gatway --port 1` and set `--shutdown-grase`.\n", ["gatway", "--shutdown-grase"]),
            ("deploy/x/run.sh", "\"$(baton_bin)\" worker --services echo --concurency 4 | tee log\ncurl --max-time 2 x\n", ["--concurency"]),
        ]
        for sample in samples {
            let file = DeployScan.File(path: sample.path, text: sample.text)
            let references = DeployScan.references(in: file, subcommands: cli.subcommands)
            let reported = Set(references.filter { cli.problem(with: $0) != nil }.map(\.name))
            #expect(reported == sample.wrong, "\(sample.path): \(references)")
        }
    }

    private var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

// MARK: - Scanning the files

enum DeployScan {
    struct File: Sendable {
        var path: String
        var text: String
    }

    struct Reference: Sendable, CustomStringConvertible {
        enum Kind: Sendable { case flag, variable, command }

        var kind: Kind
        /// `--flag`, `BATON_NAME`, or the unknown command word.
        var name: String
        /// The command the flag was given to; nil: any command (a flag mentioned in prose).
        var command: String?
        /// For variables: the commands that may read it (`gateway`, `worker` or both).
        var readers: [String] = []
        var path: String
        var line: Int

        var description: String { "\(path):\(line): \(name)" + (command.map { " (baton \($0))" } ?? "") }
    }

    /// Text files under `folders` (relative to `root`), sorted.
    static func files(under folders: [String], root: URL) throws -> [File] {
        var files: [File] = []
        for folder in folders {
            let base = root.appendingPathComponent(folder)
            guard let enumerator = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey]) else {
                continue
            }
            for case let url as URL in enumerator {
                let values = try url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey])
                guard values.isRegularFile == true, (values.fileSize ?? 0) < 1_000_000,
                      let text = try? String(contentsOf: url, encoding: .utf8)
                else { continue }
                let path = url.path.hasPrefix(base.path) ? folder + url.path.dropFirst(base.path.count) : url.path
                files.append(File(path: path, text: text))
            }
        }
        return files.sorted { $0.path < $1.path }
    }

    /// Programs whose flags are their own: the words after them are not checked.
    static let foreignPrograms: Set<String> = [
        "nats-server", "nats", "curl", "wget", "nginx", "traefik", "docker", "kubectl", "helm", "systemctl",
        "journalctl", "swift", "apt-get", "sleep", "install", "make", "python3", "sed", "grep", "setsid", "git",
    ]
    /// Words that end one command of a shell line.
    static let separators: Set<String> = ["|", "||", "&&", ";", ";;", "&", "then", "do", "else", "`"]

    static func references(in file: File, subcommands: Set<String>) -> [Reference] {
        let name = file.path.split(separator: "/").last.map(String.init) ?? file.path
        let isScript = [".sh", ".py", ".lua"].contains { name.hasSuffix($0) }
        let isMarkdown = name.hasSuffix(".md")
        let readers = name.contains("gateway") ? ["gateway"] : name.contains("worker") ? ["worker"] : ["gateway", "worker"]
        var references: [Reference] = []
        for line in logicalLines(file.text) {
            let isComment = line.text.drop(while: \.isWhitespace).hasPrefix("#")
            // --flags outside a `baton <command>` invocation are checked in prose only; a script's
            // own options (and its comments about them) are its business.
            let prose = isMarkdown || (isComment && !isScript)
            references += flags(in: line.text, subcommands: subcommands, checkStandalone: prose).map {
                Reference(kind: $0.command == nil && $0.unknownCommand ? .command : .flag, name: $0.name,
                          command: $0.command, path: file.path, line: line.number)
            }
            if !isScript {
                references += variables(in: line.text).map {
                    Reference(kind: .variable, name: $0, readers: readers, path: file.path, line: line.number)
                }
            }
        }
        return references
    }

    /// Physical lines joined where a command continues: a trailing backslash, an unclosed YAML
    /// flow sequence (`command: ["baton", …` over several lines), or a YAML block sequence under
    /// `command:`/`args:`/`entrypoint:`.
    static func logicalLines(_ text: String) -> [(number: Int, text: String)] {
        let lines = text.components(separatedBy: "\n")
        var result: [(Int, String)] = []
        var index = 0
        func indentation(_ line: String) -> Int { line.prefix(while: { $0 == " " }).count }
        while index < lines.count {
            let number = index + 1
            var text = lines[index]
            index += 1
            while text.trimmingCharacters(in: .whitespaces).hasSuffix("\\"), index < lines.count {
                text = String(text.trimmingCharacters(in: .whitespaces).dropLast()) + " " + lines[index]
                index += 1
            }
            var depth = text.filter { $0 == "[" }.count - text.filter { $0 == "]" }.count
            var joined = 0
            while depth > 0, index < lines.count, joined < 30 {
                joined += 1
                depth += lines[index].filter { $0 == "[" }.count - lines[index].filter { $0 == "]" }.count
                text += " " + lines[index]
                index += 1
            }
            let key = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "- ", with: "")
            if ["command:", "args:", "entrypoint:"].contains(key) {
                let indent = indentation(text)
                while index < lines.count, lines[index].trimmingCharacters(in: .whitespaces).hasPrefix("- "),
                      indentation(lines[index]) >= indent {
                    text += " " + lines[index].trimmingCharacters(in: .whitespaces).dropFirst(2)
                    index += 1
                }
            }
            result.append((number, text))
        }
        return result
    }

    /// `--flags` of one logical line: those after `baton <command>` belong to the command.
    static func flags(in line: String, subcommands: Set<String>, checkStandalone: Bool)
        -> [(name: String, command: String?, unknownCommand: Bool)]
    {
        enum State { case none, expectCommand, baton(String), foreign }
        var found: [(String, String?, Bool)] = []
        var state = State.none
        // A backtick ends a Markdown code span (or starts a shell command substitution).
        let tokens = line.replacingOccurrences(of: "`", with: " ` ")
            .split(whereSeparator: { $0.isWhitespace || $0 == "," || $0 == "[" || $0 == "]" })
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
        for (position, token) in tokens.enumerated() {
            if separators.contains(token) {
                state = .none
                continue
            }
            let word = token.trimmingCharacters(in: CharacterSet(charactersIn: "\"'$(){}:"))
            let program = word.split(separator: "/").last.map(String.init) ?? word
            if program == "baton" || program.lowercased() == "baton_bin" {
                state = .expectCommand
                continue
            }
            if case .expectCommand = state {
                if subcommands.contains(word) {
                    // `baton config gateway --port 1` shows the options of `baton gateway`.
                    let target = position + 1 < tokens.count ? tokens[position + 1] : ""
                    state = word == "config" && subcommands.contains(target) ? .expectCommand : .baton(word)
                } else if word.hasPrefix("-") {
                    // `baton --help`, or `baton` as a value (`swift build --product baton -c …`).
                    state = .foreign
                } else {
                    // `baton gatway --port 1`: a command word the binary does not know.
                    let next = position + 1 < tokens.count ? tokens[position + 1] : ""
                    if word.allSatisfy({ $0.isLowercase || $0 == "-" }), next.hasPrefix("--") { found.append((word, nil, true)) }
                    state = .foreign
                }
                continue
            }
            if foreignPrograms.contains(program) {
                state = .foreign
                continue
            }
            guard let name = flagName(token.trimmingCharacters(in: CharacterSet(charactersIn: "(){}.;:"))) else { continue }
            switch state {
            case .baton(let command): found.append((name, command, false))
            case .none where checkStandalone: found.append((name, nil, false))
            default: break
            }
        }
        return found
    }

    /// `--some-option` of `--some-option` or `--some-option=value`, nil for anything else.
    static func flagName(_ token: String) -> String? {
        guard token.hasPrefix("--") else { return nil }
        let name = token.split(separator: "=", maxSplits: 1).first.map(String.init) ?? token
        let body = name.dropFirst(2)
        guard let first = body.first, first.isLowercase,
              body.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" })
        else { return nil }
        return name
    }

    /// `BATON_*` variables a line sets or reads: `BATON_X=…` (env files, systemd `Environment=`,
    /// shell), `BATON_X:` at the start of a line (YAML maps: ConfigMap, Secret, compose
    /// `environment:`), `name: BATON_X` (a Kubernetes env list), `$BATON_X`/`${BATON_X…}`.
    static func variables(in line: String) -> [String] {
        var names: [String] = []
        let characters = Array(line)
        var index = 0
        let trimmed = line.drop(while: { $0.isWhitespace || $0 == "-" || $0 == "#" })
        while index < characters.count {
            guard characters[index] == "B", String(characters[index...].prefix(6)) == "BATON_" else {
                index += 1
                continue
            }
            let before = index > 0 ? characters[index - 1] : " "
            var end = index + 6
            while end < characters.count, characters[end].isUppercase || characters[end].isNumber || characters[end] == "_" { end += 1 }
            let name = String(characters[index..<end])
            let after = end < characters.count ? characters[end] : "\n"
            let prefix = String(characters[..<index])
            let isAssignment = after == "=" && !(before.isLetter || before.isNumber || before == "_")
            let isReference = before == "$" || (before == "{" && prefix.hasSuffix("${"))
            let isKey = after == ":" && trimmed.hasPrefix(name)
            let isEnvName = prefix.trimmingCharacters(in: .whitespaces).hasSuffix("name:")
                || prefix.trimmingCharacters(in: CharacterSet(charactersIn: " \"'")).hasSuffix("name:")
            if name.count > 6, isAssignment || isReference || isKey || isEnvName { names.append(name) }
            index = end
        }
        return names
    }
}

// MARK: - What the binary says

/// The commands and options of the built `baton`, from its `--help` output.
final class BatonHelp: Sendable {
    let subcommands: Set<String>
    /// Command ("" for the root) → its long option names.
    private let options = Mutex<[String: Set<String>]>([:])

    private init(subcommands: Set<String>) { self.subcommands = subcommands }

    private static let task = Task<BatonHelp, Error> {
        async let root = runHelp([])
        async let gateway = runHelp(["gateway"])
        async let worker = runHelp(["worker"])
        let help = BatonHelp(subcommands: parseSubcommands(try await root))
        help.store("", parseOptions(try await root))
        help.store("gateway", parseOptions(try await gateway))
        help.store("worker", parseOptions(try await worker))
        return help
    }

    static func shared() async throws -> BatonHelp { try await task.value }

    /// Reads `baton <command> --help` for each command not read yet (at the same time).
    func loadCommands(_ commands: Set<String>) async throws {
        let missing = commands.filter { command in options.withLock { $0[command] == nil } && subcommands.contains(command) }
        try await withThrowingTaskGroup(of: (String, Set<String>).self) { group in
            for command in missing { group.addTask { (command, Self.parseOptions(try await Self.runHelp([command]))) } }
            for try await (command, names) in group { store(command, names) }
        }
    }

    func options(of command: String) -> Set<String>? { options.withLock { $0[command] } }

    /// What is wrong with a reference, or nil.
    func problem(with reference: DeployScan.Reference) -> String? {
        switch reference.kind {
        case .command:
            return "\(reference.path):\(reference.line): `baton \(reference.name)`: no such command (commands: \(subcommands.sorted().joined(separator: ", ")))"
        case .flag:
            if let command = reference.command {
                guard let known = options(of: command) else { return "\(reference.path):\(reference.line): options of `baton \(command)` not loaded" }
                return known.contains(reference.name) ? nil
                    : "\(reference.path):\(reference.line): `baton \(command)` has no option \(reference.name)"
            }
            let all = options.withLock { $0.values.reduce(into: Set<String>()) { $0.formUnion($1) } }
            return all.contains(reference.name) ? nil : "\(reference.path):\(reference.line): no baton command has an option \(reference.name)"
        case .variable:
            let option = "--" + reference.name.dropFirst("BATON_".count).lowercased().replacingOccurrences(of: "_", with: "-")
            if reference.readers.contains(where: { options(of: $0)?.contains(option) == true }) { return nil }
            return "\(reference.path):\(reference.line): \(reference.name) is no option of `baton \(reference.readers.joined(separator: "` or `baton "))` (no \(option))"
        }
    }

    private func store(_ command: String, _ names: Set<String>) { options.withLock { $0[command] = names } }

    /// Long option names of a help text: the lines of its OPTIONS section that start with one
    /// (`  --port <port>`, `  -h, --help`, `  --webhooks/--no-webhooks`).
    static func parseOptions(_ help: String) -> Set<String> {
        var names: Set<String> = []
        for line in help.components(separatedBy: "\n") where line.hasPrefix("  -") && !line.hasPrefix("   ") {
            let head = line.dropFirst(2).split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true).first ?? ""
            let words = head.hasSuffix(",") ? line.dropFirst(2).split(separator: " ").dropFirst().first.map { [$0] } ?? [] : [head]
            for word in words {
                for part in word.split(separator: "/") where part.hasPrefix("--") { names.insert(String(part)) }
            }
        }
        return names
    }

    /// Command names of the root help's SUBCOMMANDS section.
    static func parseSubcommands(_ help: String) -> Set<String> {
        guard let range = help.range(of: "SUBCOMMANDS:") else { return [] }
        var names: Set<String> = []
        for line in help[range.upperBound...].components(separatedBy: "\n") where line.hasPrefix("  ") && !line.hasPrefix("   ") {
            if let word = line.split(separator: " ").first, word.allSatisfy({ $0.isLowercase || $0 == "-" }) { names.insert(String(word)) }
        }
        return names
    }

    /// `baton <arguments> --help`, its standard output (the environment without BATON_*).
    static func runHelp(_ arguments: [String]) async throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("baton-help-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try batonExecutable())
        process.arguments = arguments + ["--help"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BATON_") }
        process.standardOutput = handle
        process.standardError = FileHandle.nullDevice
        try process.run()
        let status = await exitStatus(of: process)
        try handle.close()
        let text = try String(contentsOf: output, encoding: .utf8)
        guard status == 0, text.contains("OPTIONS:") || text.contains("SUBCOMMANDS:") else {
            throw TestError("baton \((arguments + ["--help"]).joined(separator: " ")) exited \(status):\n\(text)")
        }
        return text
    }
}
