import ArgumentParser
import Foundation

/// `baton status ID`: the status JSON of a job.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print a job's status JSON (GET /v1/jobs/ID).",
        discussion: """
            With --wait N the gateway answers as soon as the job ends, or after N seconds \
            (Prefer: wait=N). Exit status: 0 for a 2xx answer, 1 otherwise.

            \(ConfigurationHelp.discussion(example: "E.g. BATON_GATEWAY=http://gw:8080, or `gateway = http://gw:8080` in the file."))
            """)

    @OptionGroup var job: JobPoll
    @OptionGroup var client: ClientOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        try Self.printStatus(try await job.get("", from: try client.client()))
    }

    /// A status document on stdout, indented; a problem on stderr and exit status 1.
    static func printStatus(_ response: GatewayResponse) throws {
        guard response.isSuccess else {
            Output.statusLine(response)
            Output.failure(response)
            throw ExitCode.failure
        }
        Output.json(response.body)
    }
}

/// `baton result ID`: the stored answer of a job.
struct ResultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "result",
        abstract: "Print a job's answer (GET /v1/jobs/ID/result).",
        discussion: """
            The answer body goes to stdout unchanged, the status line to stderr. While the job \
            runs the gateway answers 202 with the status JSON; --wait N waits up to N seconds \
            for the end (Prefer: wait=N). Exit status: 0 for a 2xx answer (202 included), 1 \
            otherwise (a failed job's problem document is printed readably on stderr).

            \(ConfigurationHelp.discussion(example: "E.g. BATON_GATEWAY=http://gw:8080, or `gateway = http://gw:8080` in the file."))
            """)

    @OptionGroup var job: JobPoll
    @OptionGroup var client: ClientOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        let gateway = try client.client()
        try SubmitCommand.printAnswer(try await job.get("/result", from: gateway), gateway: gateway)
    }
}

/// `baton cancel ID`: DELETE the job.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a job (DELETE /v1/jobs/ID) and print its status.",
        discussion: """
            A queued job never runs; a running handler is cancelled within a second. A job that \
            had already ended gives 409 (exit status 1).

            \(ConfigurationHelp.discussion(example: "E.g. BATON_GATEWAY=http://gw:8080 BATON_API_KEY=…"))
            """)

    @Argument(help: "The job id (or its Location, /v1/jobs/ID).")
    var id: String

    @OptionGroup var client: ClientOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        let gateway = try client.client()
        let id = try JobReference.id(self.id)
        let response = try await gateway.send("DELETE", JobReference.path(id))
        if response.isSuccess { Output.err(response.statusLine + "  job \(id) cancelled\n") }
        try StatusCommand.printStatus(response)
    }
}

/// The job and the long-poll of `status` and `result`.
struct JobPoll: ParsableArguments {
    @Argument(help: "The job id (or its Location, /v1/jobs/ID).")
    var id: String

    @Option(help: "Long-poll: wait up to N seconds for the job to end (Prefer: wait=N).")
    var wait: Int?

    /// GET `/v1/jobs/<id><suffix>`, long-polling with `--wait`.
    func get(_ suffix: String, from gateway: GatewayClient) async throws -> GatewayResponse {
        try await gateway.send(
            "GET", JobReference.path(try JobReference.id(id)) + suffix, headers: wait.map { [("Prefer", "wait=\($0)")] } ?? [],
            timeout: TimeInterval((wait ?? 0) + 30))
    }
}
