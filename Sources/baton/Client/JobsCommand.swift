import ArgumentParser
import Foundation

/// `baton jobs`: recent jobs, newest first, as a table (GET /v1/jobs).
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List recent jobs, newest first (GET /v1/jobs): id, service, state, age, duration, attempts.",
        discussion: """
            E.g. `baton jobs --service resize --state failed`. With API keys on, only the key's \
            own jobs. --all follows the pages to the end (or to --limit jobs).

            \(ConfigurationHelp.discussion(example: "E.g. BATON_GATEWAY=http://gw:8080 baton jobs."))
            """)

    @Option(help: "Only jobs of this service.")
    var service: String?

    @Option(help: "Only jobs in this state: queued, running, succeeded, failed, cancelled, expired.")
    var state: String?

    @Option(help: "The most jobs to show (1...200 per page).")
    var limit = 20

    @Flag(help: "Follow the pages until --limit jobs are shown or none are left.")
    var all = false

    @Flag(help: "Print each page's JSON as the gateway gives it.")
    var json = false

    @OptionGroup var client: ClientOptions
    @OptionGroup var configFile: ConfigFileOption

    struct Page: Decodable {
        struct Job: Decodable {
            var id: String
            var service: String
            var state: String
            var createdAt: String?
            var startedAt: String?
            var finishedAt: String?
            var attempts: Int?
        }
        var jobs: [Job]
        var next: String?
    }

    func run() async throws {
        let gateway = try client.client()
        var query = [("limit", String(min(limit, 200)))]
        if let service { query.insert(("service", service), at: 0) }
        if let state { query.insert(("state", state), at: query.count - 1) }
        var path: String? = "/v1/jobs?" + query.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? $1)" }.joined(separator: "&")
        var shown: [Page.Job] = []
        while let next = path, shown.count < limit {
            let response = try await gateway.send("GET", next)
            guard response.isSuccess else {
                Output.statusLine(response)
                Output.failure(response)
                throw ExitCode.failure
            }
            if json { Output.json(response.body) }
            guard let page = try? JSONDecoder().decode(Page.self, from: response.body) else {
                Output.err("error: unexpected job list from \(gateway.base)\(next):\n")
                Output.json(response.body)
                throw ExitCode.failure
            }
            shown += page.jobs.prefix(limit - shown.count)
            path = all ? page.next : nil
        }
        if !json { Output.out(Self.table(shown, now: Date())) }
    }

    static func table(_ jobs: [Page.Job], now: Date) -> String {
        if jobs.isEmpty { return "no jobs\n" }
        var rows = [["ID", "SERVICE", "STATE", "AGE", "DURATION", "ATTEMPTS"]]
        for job in jobs {
            let created = job.createdAt.flatMap(date)
            let started = job.startedAt.flatMap(date)
            let finished = job.finishedAt.flatMap(date)
            rows.append([
                job.id, job.service, job.state,
                created.map { span(now.timeIntervalSince($0)) } ?? "-",
                started.map { span((finished ?? now).timeIntervalSince($0)) } ?? "-",
                job.attempts.map(String.init) ?? "-",
            ])
        }
        return Table(rows: rows).rendered
    }

    private static func date(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)))
            ?? (try? Date(text, strategy: .iso8601))
    }

    /// 850ms, 12.3s, 4m05s, 3h20m, 2d4h.
    static func span(_ seconds: TimeInterval) -> String {
        let s = max(0, seconds)
        switch s {
        case ..<1: return "\(Int(s * 1000))ms"
        case ..<60: return String(format: "%.1fs", s)
        case ..<3600: return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
        case ..<86400: return String(format: "%dh%02dm", Int(s) / 3600, Int(s) % 3600 / 60)
        default: return "\(Int(s) / 86400)d\(Int(s) % 86400 / 3600)h"
        }
    }
}

/// `baton replay SEQUENCE`: runs a dead letter again (POST /v1/dead-letters/SEQUENCE/replay).
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run a dead letter again (POST /v1/dead-letters/SEQUENCE/replay) and print the job it runs.",
        discussion: """
            SEQUENCE is the dead letter's `sequence` in GET /v1/dead-letters. A job's dead letter \
            is submitted again as a new job (its record names the old one in `replayOf`); a \
            webhook's is delivered again. Replaying twice runs one job.

            \(ConfigurationHelp.discussion(example: "E.g. BATON_GATEWAY=http://gw:8080 baton replay 42."))
            """)

    @Argument(help: "The dead letter's sequence number.")
    var sequence: UInt64

    @OptionGroup var client: ClientOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        let response = try await client.client().send("POST", "/v1/dead-letters/\(sequence)/replay")
        if response.isSuccess { Output.statusLine(response) }  // printStatus shows it otherwise
        try StatusCommand.printStatus(response)
    }
}
