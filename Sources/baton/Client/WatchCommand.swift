import ArgumentParser
import BatonCore
import BatonHTTPClient
import Foundation

/// `baton watch ID`: follow a job's server-sent events with a progress bar.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a job until it ends, with a live progress bar (GET /v1/jobs/ID/events).",
        discussion: """
            Progress goes to stderr: a bar redrawn in place when stderr is a terminal, one line per \
            change otherwise (or with --plain). At the end the final state is printed (and with \
            --json the final status JSON on stdout). Exit status: 0 when the job succeeded, 1 \
            otherwise. A dropped stream is reopened (the gateway starts each stream with the \
            job's current state).

            \(ConfigurationHelp.discussion(example: "E.g. BATON_GATEWAY=http://gw:8080 baton watch ID."))
            """)

    @Argument(help: "The job id (or its Location, /v1/jobs/ID).")
    var id: String

    @Flag(help: "Plain progress lines even at a terminal.")
    var plain = false

    @Flag(help: "Print the final status JSON on stdout.")
    var json = false

    @Option(help: "How many times to reopen a stream that drops before the job ends.")
    var reconnects = 5

    @OptionGroup var client: ClientOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        let gateway = try client.client()
        let id = try JobReference.id(self.id)
        var bar = ProgressBar(interactive: !plain && ProgressBar.stderrIsTerminal)
        var display = WatchDisplay()
        var reopened = 0
        while true {
            do {
                if let final = try await follow(gateway: gateway, id: id, bar: &bar, display: &display) {
                    bar.finish()
                    Output.err(WatchDisplay.summary(final) + "\n")
                    if json { Output.json(final.raw) }
                    if final.state != .succeeded { throw ExitCode.failure }
                    return
                }
                // The stream ended before `done`.
                guard reopened < reconnects else { throw HTTPClientError(.transfer, "the event stream ended before the job did") }
            } catch let error as HTTPClientError {
                // Reopen only a stream that worked (not a gateway that cannot be reached at all).
                guard reopened < reconnects, display.state != nil else {
                    bar.finish()
                    throw error
                }
            }
            reopened += 1
            try await Task.sleep(for: .seconds(min(reopened, 5)))
        }
    }

    /// One event stream; the final status when it says `done`, nil when it ends early.
    private func follow(gateway: GatewayClient, id: String, bar: inout ProgressBar, display: inout WatchDisplay) async throws -> JobSnapshot? {
        var parser = ServerSentEvents()
        var head: GatewayResponse?
        var errorBody = Data()
        for try await part in gateway.stream(JobReference.path(id) + "/events") {
            switch part {
            case .head(let response):
                head = response
            case .data(let data):
                guard let head, head.isSuccess else {
                    errorBody.append(data)
                    continue
                }
                for event in parser.feed(data) {
                    switch event.name {
                    case "state":
                        if let snapshot = JobSnapshot(event.data) { display.apply(snapshot) }
                    case "progress":
                        display.apply(progress: event.data)
                    case "done":
                        guard let snapshot = JobSnapshot(event.data) else { continue }
                        display.apply(snapshot)
                        if snapshot.state == .succeeded { display.percent = 100 }
                        bar.update(percent: display.percent, message: display.message)
                        return snapshot
                    default:
                        continue
                    }
                    bar.update(percent: display.percent, message: display.message)
                }
            }
        }
        if let head, !head.isSuccess {
            bar.finish()
            var response = head
            response.body = errorBody
            Output.statusLine(response)
            Output.failure(response)
            throw ExitCode.failure
        }
        return nil
    }
}

/// What the watch shows: the latest percent and message.
struct WatchDisplay {
    var percent: Double?
    var message = "waiting"
    /// The job's state as last read; nil before the stream said anything.
    var state: JobState?

    mutating func apply(_ snapshot: JobSnapshot) {
        state = snapshot.state
        if let value = snapshot.percent { percent = value }
        if snapshot.state == .running, let text = snapshot.message, !text.isEmpty {
            message = text
        } else {
            message = snapshot.state.rawValue
        }
    }

    mutating func apply(progress data: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return }
        if let value = (object["percent"] as? NSNumber)?.doubleValue { percent = value }
        if let text = object["message"] as? String, !text.isEmpty { message = text }
    }

    /// `succeeded  status 200, 1 attempt, 0.31 s` (and the error of a failed job).
    static func summary(_ final: JobSnapshot) -> String {
        var details: [String] = []
        if let status = final.status { details.append("status \(status)") }
        if let attempts = final.attempts { details.append(attempts == 1 ? "1 attempt" : "\(attempts) attempts") }
        if let seconds = final.duration { details.append(String(format: "%.2f s", seconds)) }
        var text = final.state.rawValue + (details.isEmpty ? "" : "  (" + details.joined(separator: ", ") + ")")
        if let error = final.error, !error.isEmpty { text += "\n  error: \(error)" }
        return text
    }
}

/// The fields of a status document the watch reads.
struct JobSnapshot {
    var raw: Data
    var state: JobState
    var percent: Double?
    var message: String?
    var status: Int?
    var attempts: Int?
    var error: String?
    var duration: Double?

    init?(_ text: String) {
        raw = Data(text.utf8)
        guard let object = try? JSONSerialization.jsonObject(with: raw) as? [String: Any], let state = (object["state"] as? String).flatMap(JobState.init(rawValue:)) else {
            return nil
        }
        self.state = state
        let progress = object["progress"] as? [String: Any]
        percent = (progress?["percent"] as? NSNumber)?.doubleValue
        message = progress?["message"] as? String
        status = (object["status"] as? NSNumber)?.intValue
        attempts = (object["attempts"] as? NSNumber)?.intValue
        error = object["error"] as? String
        if let started = (object["startedAt"] as? String).flatMap(Self.date), let finished = (object["finishedAt"] as? String).flatMap(Self.date) {
            duration = finished.timeIntervalSince(started)
        }
    }

    private static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

/// An incremental `text/event-stream` parser: feed it bytes, get whole events.
struct ServerSentEvents {
    struct Event: Equatable {
        var name: String
        var data: String
    }

    private var pending: [UInt8] = []
    private var name = ""
    private var data: [String] = []

    mutating func feed(_ chunk: Data) -> [Event] {
        pending.append(contentsOf: chunk)
        var events: [Event] = []
        var start = 0
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            var end = newline
            if end > start, pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = String(decoding: pending[start..<end], as: UTF8.self)
            start = newline + 1
            if line.isEmpty {
                // A blank line dispatches the event.
                if !data.isEmpty { events.append(Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n"))) }
                name = ""
                data = []
                continue
            }
            if line.hasPrefix(":") { continue }  // comment (heartbeat)
            let field: Substring
            var value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                value = line[line.index(after: colon)...]
                if value.first == " " { value = value.dropFirst() }
            } else {
                field = Substring(line)
                value = ""
            }
            switch field {
            case "event": name = String(value)
            case "data": data.append(String(value))
            default: continue
            }
        }
        pending.removeFirst(start)
        return events
    }
}
