import ArgumentParser
import Foundation

/// `baton submit SERVICE`: POST a job and print its answer.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a job to a service and print its answer (POST /v1/jobs/SERVICE).",
        discussion: """
            The answer body goes to stdout unchanged (binary-safe); the status line and the job \
            id go to stderr. When the job outlasts the wait (or with --async) the gateway answers \
            202: the job id, its Location and the status JSON are printed; follow it with \
            `baton watch ID`, `baton status ID` or `baton result ID --wait 30`. Exit status: 0 \
            for a 2xx answer, 1 otherwise (problem documents are printed readably on stderr).

            Examples:
              baton submit echo --data 'hello baton'
              baton submit slow --async --data '{"ms": 5000, "steps": 5}'
              baton submit resize --data @photo.png --content-type image/png > small.png
              cat input.json | baton submit echo --data -

            \(ConfigurationHelp.discussion(example: "E.g. BATON_GATEWAY=http://gw:8080 BATON_API_KEY=…, or `priority = low` in the file."))
            """)

    @Argument(help: "The service, e.g. echo.")
    var service: String

    @Option(help: ArgumentHelp("The job's input: TEXT, @FILE for a file's bytes, or - for stdin (default: empty).", valueName: "data"))
    var data: String?

    @Option(help: "Content-Type of the input (default: application/json when it parses as JSON, text/plain when it is UTF-8 text, else application/octet-stream).")
    var contentType: String?

    @Flag(name: .customLong("async"), help: "Ask for 202 at once (Prefer: respond-async).")
    var respondAsync = false

    @Option(help: "Wait up to N seconds for the answer before the gateway answers 202 (Prefer: wait=N; default: the gateway's, 10 s).")
    var wait: Int?

    @Option(help: "Priority: high, normal or low (Prefer: priority=…).")
    var priority: Priority?

    @Option(help: "Idempotency key: the same key and input give the same job (Idempotency-Key).")
    var idempotencyKey: String?

    @Option(help: "Webhook URL called when the job ends (Callback-Url).")
    var callbackUrl: String?

    @Option(name: .customLong("header"), help: ArgumentHelp("Extra request header 'Name: value' (repeatable).", valueName: "header"))
    var headers: [String] = []

    @OptionGroup var client: ClientOptions
    @OptionGroup var configFile: ConfigFileOption

    enum Priority: String, ExpressibleByArgument, CaseIterable, Sendable {
        case high, normal, low
    }

    func validate() throws {
        if let wait, wait < 0 { throw ValidationError("--wait must be 0 or more seconds") }
        for header in headers where Self.split(header: header) == nil {
            throw ValidationError("--header takes 'Name: value', got '\(header)'")
        }
    }

    func run() async throws {
        let gateway = try client.client()
        let body = try readBody()
        var fields: [(String, String)] = []
        fields.append(("Content-Type", contentType ?? Self.guessContentType(body)))
        var preferences: [String] = []
        if respondAsync { preferences.append("respond-async") }
        if let wait { preferences.append("wait=\(wait)") }
        if let priority { preferences.append("priority=\(priority.rawValue)") }
        if !preferences.isEmpty { fields.append(("Prefer", preferences.joined(separator: ", "))) }
        if let idempotencyKey { fields.append(("Idempotency-Key", idempotencyKey)) }
        if let callbackUrl { fields.append(("Callback-Url", callbackUrl)) }
        fields += headers.compactMap(Self.split(header:))

        let path = "/v1/jobs/" + (service.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? service)
        // The gateway caps waits (--max-wait, 60 s by default); leave it room to answer.
        let timeout = TimeInterval((wait ?? 60) + 30)
        let response = try await gateway.send("POST", path, headers: fields, body: body, timeout: timeout)
        try Self.printAnswer(response, gateway: gateway)
    }

    /// The answer of a POST or of GET …/result: body on stdout, the rest on stderr.
    static func printAnswer(_ response: GatewayResponse, gateway: GatewayClient) throws {
        Output.statusLine(response)
        if response.status == 202 {
            if let location = response.header("location") {
                let absolute = location.hasPrefix("/") ? gateway.base + location : location
                Output.err("Location: \(absolute)\n")
            }
            if let id = response.jobID {
                Output.err("follow it: baton watch \(id)   (or: baton result \(id) --wait 30)\n")
            }
            Output.json(response.body)
            return
        }
        guard response.isSuccess else {
            Output.failure(response)
            throw ExitCode.failure
        }
        Output.out(response.body)
        // At a terminal, end the line; in a pipe the bytes stay exactly the answer.
        if isatty(STDOUT_FILENO) != 0, let last = response.body.last, last != UInt8(ascii: "\n") { Output.out("\n") }
    }

    private func readBody() throws -> Data {
        guard let data else { return Data() }
        if data == "-" || data == "@-" {
            return FileHandle.standardInput.readDataToEndOfFile()
        }
        if data.hasPrefix("@") {
            let path = String(data.dropFirst())
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read \(path)")
            }
            return contents
        }
        return Data(data.utf8)
    }

    static func guessContentType(_ body: Data) -> String {
        if body.isEmpty { return "application/octet-stream" }
        if (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])) != nil,
            let first = body.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }),
            first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        {
            return "application/json"
        }
        if String(data: body, encoding: .utf8) != nil { return "text/plain; charset=utf-8" }
        return "application/octet-stream"
    }

    static func split(header: String) -> (String, String)? {
        guard let colon = header.firstIndex(of: ":") else { return nil }
        let name = header[..<colon].trimmingCharacters(in: .whitespaces)
        let value = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.contains(" ") else { return nil }
        return (name, value)
    }
}
