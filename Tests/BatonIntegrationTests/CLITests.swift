import Foundation
import Testing

/// The `baton` client commands (submit, status, result, watch, cancel, services) and the
/// configuration rule (flags > BATON_* environment > --config file > defaults), run as
/// subprocesses against the shared test gateway.
@Suite("command-line client", .serialized, .timeLimit(.minutes(2)))
struct CLITests {
    // MARK: - Client commands

    @Test func submitPrintsTheAnswerOnStdout() async throws {
        let gateway = try await gatewayURL()
        let result = try await runBaton(["submit", "echo", "--data", "hi", "--gateway", gateway])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == Data("hi".utf8))
        #expect(result.stderr.contains("200 OK"))
        #expect(result.stderr.contains("job "))
    }

    @Test func submitFromStdinIsBinarySafe() async throws {
        let gateway = try await gatewayURL()
        let bytes = Data((0..<4096).map { _ in UInt8.random(in: 0...255) })
        let result = try await runBaton(
            ["submit", "echo", "--data", "-", "--content-type", "application/octet-stream", "--gateway", gateway], stdin: bytes)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == bytes)
    }

    @Test func asyncSubmitThenWatchStatusAndResult() async throws {
        let gateway = try await gatewayURL()
        let submitted = try await runBaton(["submit", "slow", "--async", "--data", #"{"ms":300,"steps":3}"#, "--gateway", gateway])
        #expect(submitted.status == 0, "\(submitted)")
        #expect(submitted.stderr.contains("202 Accepted"))
        let id = try #require(try submitted.json()["id"] as? String)
        #expect(id.count == 26)
        #expect(submitted.stderr.contains("job \(id)"))
        #expect(submitted.stderr.contains("Location: \(gateway)/v1/jobs/\(id)"))

        let watched = try await runBaton(["watch", id, "--gateway", gateway])
        #expect(watched.status == 0, "\(watched)")
        #expect(watched.stderr.contains("100%"))
        #expect(watched.stderr.contains("succeeded"))

        let status = try await runBaton(["status", id, "--gateway", gateway])
        #expect(status.status == 0, "\(status)")
        #expect(try status.json()["state"] as? String == "succeeded")
        #expect(status.text.contains("\n  \"state\": \"succeeded\""))  // indented

        let answer = try await runBaton(["result", id, "--gateway", gateway])
        #expect(answer.status == 0, "\(answer)")
        #expect(answer.text == #"{"slept_ms":300}"#)
    }

    /// What the watch can promise (PROTOCOL §8): progress events are not stored, so it shows
    /// those published while it listens, after the record's last progress (its writes coalesced:
    /// a step can be skipped). So the steps it shows come in order, each once, and it ends at
    /// 100% with the final state.
    @Test func watchShowsTheStepsItSeesInOrderThenTheEnd() async throws {
        let gateway = try await gatewayURL()
        let submitted = try await runBaton(["submit", "slow", "--async", "--data", #"{"ms":1500,"steps":3}"#, "--gateway", gateway])
        let id = try #require(try submitted.json()["id"] as? String)
        let watched = try await runBaton(["watch", id, "--gateway", gateway, "--json"])
        #expect(watched.status == 0, "\(watched)")
        // Not a terminal: plain lines, one per change, then the summary.
        #expect(!watched.stderr.contains("\r"))
        let lines = watched.stderr.split(separator: "\n").map(String.init)
        let steps = lines.compactMap { line in line.firstMatch(of: /step (\d) of 3/).flatMap { Int($0.1) } }
        #expect(steps == steps.sorted() && Set(steps).count == steps.count, "\(lines)")
        let percents = lines.compactMap { line in line.firstMatch(of: /^ *(\d+)% {2}/).flatMap { Int($0.1) } }
        #expect(percents == percents.sorted(), "\(lines)")
        let end = try #require(lines.lastIndex { $0.hasPrefix("succeeded") }, "\(lines)")
        #expect(end > 0 && lines[end - 1] == "100%  succeeded", "\(lines)")
        #expect(try watched.json()["state"] as? String == "succeeded")
    }

    @Test func statusLongPollsWithWait() async throws {
        let gateway = try await gatewayURL()
        let submitted = try await runBaton(["submit", "slow", "--async", "--data", #"{"ms":500}"#, "--gateway", gateway])
        let id = try #require(try submitted.json()["id"] as? String)
        let status = try await runBaton(["status", id, "--wait", "20", "--gateway", gateway])
        #expect(status.status == 0, "\(status)")
        #expect(try status.json()["state"] as? String == "succeeded")
    }

    @Test func failedJobExitsOneWithAReadableProblem() async throws {
        let gateway = try await gatewayURL()
        let result = try await runBaton(["submit", "fail", "--data", #"{"status":422,"message":"not today"}"#, "--gateway", gateway])
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("422"))
        #expect(result.stderr.contains("not today"))
        #expect(result.stderr.contains("type: /problems/job-failed"))
        #expect(result.stdout.isEmpty)

        let failed = try await runBaton(["submit", "fail", "--data", #"{"status":422}"#, "--gateway", gateway])
        #expect(failed.status == 1, "\(failed)")
    }

    @Test func unknownJobAndCancelOfAnEndedJobExitOne() async throws {
        let gateway = try await gatewayURL()
        let unknown = try await runBaton(["status", String(repeating: "0", count: 26), "--gateway", gateway])
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stderr.contains("404"))
        #expect(unknown.stderr.contains("/problems/unknown-job"))

        let done = try await runBaton(["submit", "echo", "--data", "x", "--gateway", gateway])
        let id = try #require(done.stderr.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        let cancel = try await runBaton(["cancel", id, "--gateway", gateway])
        #expect(cancel.status == 1, "\(cancel)")
        #expect(cancel.stderr.contains("409"))
        #expect(cancel.stderr.contains("/problems/job-ended"))
    }

    @Test func cancelARunningJob() async throws {
        let gateway = try await gatewayURL()
        let submitted = try await runBaton(["submit", "slow", "--async", "--data", #"{"ms":10000,"steps":10}"#, "--gateway", gateway])
        let id = try #require(try submitted.json()["id"] as? String)
        let cancel = try await runBaton(["cancel", id, "--gateway", gateway])
        #expect(cancel.status == 0, "\(cancel)")
        #expect(try cancel.json()["state"] as? String == "cancelled")
        let watched = try await runBaton(["watch", id, "--gateway", gateway])
        #expect(watched.status == 1, "\(watched)")
        #expect(watched.stderr.contains("cancelled"))
    }

    @Test func servicesPrintsTheCatalogueAsATable() async throws {
        let gateway = try await gatewayURL()
        let result = try await runBaton(["services", "--gateway", gateway])
        #expect(result.status == 0, "\(result)")
        let lines = result.text.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("NAME") == true)
        #expect(lines.first?.contains("INSTANCES") == true)
        let echo = try #require(lines.first { $0.hasPrefix("echo ") })
        #expect(echo.contains("durable"))
        #expect(echo.contains("1.0.0"))
        let fast = try #require(lines.first { $0.hasPrefix("echo-fast ") })
        #expect(fast.contains("fast"))

        // A base URL where the route does not exist: the 404 problem, readably, and exit 1.
        let missing = try await runBaton(["services", "--gateway", gateway + "/nowhere"])
        #expect(missing.status == 1, "\(missing)")
        #expect(missing.stderr.contains("404"))
        #expect(missing.stderr.contains("no service catalogue"))
    }

    @Test func unreachableGatewayIsAnError() async throws {
        let port = try freePort()
        let result = try await runBaton(["submit", "echo", "--data", "x", "--gateway", "http://127.0.0.1:\(port)"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("127.0.0.1:\(port)"))
    }

    // MARK: - Configuration

    @Test func environmentGivesTheGatewayWhenNoFlagDoes() async throws {
        let gateway = try await gatewayURL()
        let result = try await runBaton(["submit", "echo", "--data", "from-env"], environment: ["BATON_GATEWAY": gateway])
        #expect(result.status == 0, "\(result)")
        #expect(result.text == "from-env")
    }

    @Test func flagWinsOverEnvironment() async throws {
        let gateway = try await gatewayURL()
        let closed = "http://127.0.0.1:\(try freePort())"
        let result = try await runBaton(["submit", "echo", "--data", "flag", "--gateway", gateway], environment: ["BATON_GATEWAY": closed])
        #expect(result.status == 0, "\(result)")
        #expect(result.text == "flag")
        // And the other way round: the flag names the closed port, so the call fails.
        let failing = try await runBaton(["submit", "echo", "--data", "flag", "--gateway=\(closed)"], environment: ["BATON_GATEWAY": gateway])
        #expect(failing.status == 1, "\(failing)")
    }

    @Test func configFileIsUsedWhenNeitherFlagNorEnvironmentSays() async throws {
        let gateway = try await gatewayURL()
        let file = try temporaryFile("""
            # client settings
            gateway = \(gateway)
            [worker]
            concurrency = 3
            """)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let viaFlag = try await runBaton(["submit", "echo", "--data", "from-file", "--config", file])
        #expect(viaFlag.status == 0, "\(viaFlag)")
        #expect(viaFlag.text == "from-file")

        let viaEnvironment = try await runBaton(["submit", "echo", "--data", "from-file"], environment: ["BATON_CONFIG": file])
        #expect(viaEnvironment.status == 0, "\(viaEnvironment)")
        #expect(viaEnvironment.text == "from-file")
    }

    @Test func environmentWinsOverConfigFile() async throws {
        let gateway = try await gatewayURL()
        let file = try temporaryFile("gateway: http://127.0.0.1:\(try freePort())\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await runBaton(["submit", "echo", "--data", "env", "--config", file], environment: ["BATON_GATEWAY": gateway])
        #expect(result.status == 0, "\(result)")
        #expect(result.text == "env")
    }

    @Test func variablesNamingNoOptionAreIgnored() async throws {
        let gateway = try await gatewayURL()
        let result = try await runBaton(
            ["submit", "echo", "--data", "ignored", "--gateway", gateway],
            // Not an option of any command; an option of another command (`sub --count`);
            // a variable with its own meaning (gateway API keys).
            environment: ["BATON_NO_SUCH_OPTION": "1", "BATON_COUNT": "not-a-number", "BATON_API_KEYS": "x"])
        #expect(result.status == 0, "\(result)")
        #expect(result.text == "ignored")
    }

    @Test func flagsTakeTrueOrFalseFromTheEnvironment() async throws {
        let gateway = try await gatewayURL()
        let asynchronous = try await runBaton(["submit", "slow", "--data", #"{"ms":100}"#, "--gateway", gateway], environment: ["BATON_ASYNC": "true"])
        #expect(asynchronous.status == 0, "\(asynchronous)")
        #expect(asynchronous.stderr.contains("202 Accepted"))

        let invalid = try await runBaton(["submit", "echo", "--gateway", gateway], environment: ["BATON_ASYNC": "maybe"])
        #expect(invalid.status == 64, "\(invalid)")
        #expect(invalid.stderr.contains("BATON_ASYNC"))
    }

    @Test func badValueFromTheEnvironmentNamesItsSource() async throws {
        let result = try await runBaton(["status", String(repeating: "0", count: 26)], environment: ["BATON_WAIT": "soon"])
        #expect(result.status == 64, "\(result)")
        #expect(result.stderr.contains("--wait=soon"))
        #expect(result.stderr.contains("environment BATON_WAIT"))
    }

    @Test func configCommandShowsWhereEachValueComesFrom() async throws {
        let file = try temporaryFile("""
            port = 7001
            log_level: debug
            webhooks = false
            [gateway]
            max-wait = 30s
            """)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await runBaton(
            ["config", "gateway", "--config", file, "--port", "7003"],
            environment: ["BATON_PORT": "7002", "BATON_LOG_LEVEL": "notice"])
        #expect(result.status == 0, "\(result)")
        let rows = Dictionary(
            result.text.split(separator: "\n").map { line in
                let cells = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                return (cells[0], cells.dropFirst().joined(separator: " "))
            }, uniquingKeysWith: { first, _ in first })
        #expect(rows["--port"] == "7003 command line")
        #expect(rows["--log-level"] == "notice environment BATON_LOG_LEVEL")
        #expect(rows["--webhooks"] == "false \(file):3")
        #expect(rows["--max-wait"] == "30s \(file):5")
        #expect(rows["--host"] == "0.0.0.0 default")
    }

    @Test func unknownConfigFileEntryWarnsAndMissingFileFails() async throws {
        let gateway = try await gatewayURL()
        let file = try temporaryFile("gatewy = \(gateway)\ngateway = \(gateway)\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let typo = try await runBaton(["submit", "echo", "--data", "x", "--config", file])
        #expect(typo.status == 0, "\(typo)")
        #expect(typo.stderr.contains("--gatewy"))

        let missing = try await runBaton(["services"], environment: ["BATON_CONFIG": "/nonexistent/baton.conf"])
        #expect(missing.status == 64, "\(missing)")
        #expect(missing.stderr.contains("/nonexistent/baton.conf"))
    }

    @Test func helpDocumentsTheRuleAndEveryOption() async throws {
        let help = try await runBaton(["gateway", "--help"])
        #expect(help.status == 0)
        #expect(help.text.contains("BATON_SOME_OPTION"))
        #expect(help.text.contains("--config <file>"))
        #expect(help.text.contains("(default: 8080)"))
        let root = try await runBaton(["--help"])
        #expect(root.text.contains("Precedence: command-line flags, then"))
    }

    // MARK: - Support

    /// `baton jobs`: the list as a table, filtered by service and state, newest first.
    @Test func jobsListsRecentJobs() async throws {
        let gateway = try await gatewayURL()
        var ids: [String] = []
        for (service, body) in [("fail", #"{"status":422}"#), ("echo", "not listed"), ("fail", #"{"status":500}"#)] {
            let submitted = try await runBaton(["submit", service, "--data", body, "--gateway", gateway])
            #expect(submitted.stderr.contains("job "), "\(submitted)")
            // "422 Unprocessable Content  job <id>"
            if let id = submitted.stderr.split(separator: "\n").first?.components(separatedBy: "  job ").last, id.count == 26 {
                ids.append(id)
            }
        }
        try #require(ids.count == 3)
        let listed = try await runBaton(["jobs", "--service", "fail", "--state", "failed", "--limit", "200", "--gateway", gateway])
        #expect(listed.status == 0, "\(listed)")
        let lines = listed.text.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID") == true, "\(listed.text)")
        let rows = lines.dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(rows.allSatisfy { $0.count == 6 && $0[1] == "fail" && $0[2] == "failed" }, "\(listed.text)")
        let order = rows.map(\.[0]).filter { ids.contains($0) }
        #expect(order == [ids[2], ids[0]], "newest first, the echo job left out:\n\(listed.text)")

        let unknown = try await runBaton(["replay", "999999999999", "--gateway", gateway])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("404"), "\(unknown)")
        #expect(unknown.stderr.contains("unknown-dead-letter"), "\(unknown)")

        let bad = try await runBaton(["jobs", "--state", "finished", "--gateway", gateway])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("400"), "\(bad)")
    }

    private func gatewayURL() async throws -> String {
        "http://127.0.0.1:\(try await SharedSystem.get().gateway.port)"
    }

    private func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("baton-cli-\(UUID().uuidString).conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// What a `baton` run printed and how it exited.
struct CLIResult: Sendable, CustomStringConvertible {
    var status: Int32
    var stdout: Data
    var stderr: String

    var text: String { String(decoding: stdout, as: UTF8.self) }

    func json() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: stdout) as? [String: Any] ?? [:]
    }

    var description: String { "exit \(status)\nstdout: \(text)\nstderr: \(stderr)" }
}

/// Runs the built `baton` with `arguments`; the environment is this process's without any
/// BATON_* variable, plus `environment`. Waits without blocking a thread of the pool.
func runBaton(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil, timeout: Duration = .seconds(60)) async throws -> CLIResult {
    let directory = FileManager.default.temporaryDirectory
    let outPath = directory.appendingPathComponent("baton-cli-\(UUID().uuidString).out").path
    let errPath = directory.appendingPathComponent("baton-cli-\(UUID().uuidString).err").path
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try batonExecutable())
    process.arguments = arguments
    var variables = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BATON_") }
    variables.merge(environment) { _, new in new }
    process.environment = variables
    let out = try #require(FileHandle(forWritingAtPath: outPath))
    let err = try #require(FileHandle(forWritingAtPath: errPath))
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input

    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
    }
    let watchdog = Task {
        try await Task.sleep(for: timeout)
        if process.isRunning { process.terminate() }
    }
    let status = await exitStatus(of: process)
    watchdog.cancel()
    try out.close()
    try err.close()
    return CLIResult(
        status: status,
        stdout: FileManager.default.contents(atPath: outPath) ?? Data(),
        stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
}
