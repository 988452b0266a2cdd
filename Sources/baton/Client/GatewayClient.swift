import ArgumentParser
import Foundation

/// Options every client command shares.
struct ClientOptions: ParsableArguments {
    @Option(help: "The gateway's base URL (env BATON_GATEWAY).")
    var gateway = "http://127.0.0.1:8080"

    @Option(help: "API key, sent as `Authorization: Bearer KEY` (env BATON_API_KEY).")
    var apiKey: String?

    func client() throws -> GatewayClient {
        var text = gateway.trimmingCharacters(in: .whitespaces)
        while text.hasSuffix("/") { text.removeLast() }
        if !text.contains("://") { text = "http://" + text }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil,
            url.query == nil
        else {
            throw ValidationError("--gateway must be an http(s) URL, got '\(gateway)'")
        }
        return GatewayClient(base: text, apiKey: apiKey.flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// One answer of the gateway.
struct GatewayResponse: Sendable {
    var status: Int
    /// Header fields by lowercased name.
    var headers: [String: String]
    var body: Data

    func header(_ name: String) -> String? { headers[name.lowercased()] }
    var contentType: String? { header("content-type") }
    var jobID: String? { header("baton-job-id") }
    var isSuccess: Bool { (200..<300).contains(status) }
    var isProblem: Bool { contentType?.lowercased().hasPrefix("application/problem+json") == true }

    init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `200 OK`.
    var statusLine: String {
        let reason = HTTPReason.phrase(status)
        return reason.isEmpty ? "\(status)" : "\(status) \(reason)"
    }
}

/// A failure to talk to the gateway at all (not an HTTP error status).
struct ClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The gateway's HTTP API (libcurl, see `CurlHTTP`).
struct GatewayClient: Sendable {
    let base: String
    let apiKey: String?

    private func request(_ method: String, _ path: String, headers: [(String, String)], body: Data?, timeout: TimeInterval?, idleTimeout: Duration? = nil) -> CurlHTTP.Request {
        var lines: [String] = []
        if let apiKey { lines.append("Authorization: Bearer \(apiKey)") }
        lines += headers.map { "\($0.0): \($0.1)" }
        // No `Expect: 100-continue` round trip for larger bodies.
        if body != nil { lines.append("Expect:") }
        return CurlHTTP.Request(
            method: method, url: base + path, headerLines: lines, body: body,
            timeoutMilliseconds: timeout.map { Int($0 * 1000) } ?? 0, idleTimeout: idleTimeout)
    }

    /// One request, the whole answer.
    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: Data? = nil, timeout: TimeInterval = 60) async throws -> GatewayResponse {
        do {
            return try await CurlHTTP.send(request(method, path, headers: headers, body: body, timeout: timeout))
        } catch let failure as CurlHTTP.Failure {
            throw ClientError("\(method) \(base + path): \(failure.description)")
        }
    }

    /// A streaming GET (server-sent events): the response head, then the body as it arrives.
    /// Ending the iteration early (or cancelling the task) stops the transfer within a second.
    func stream(_ path: String, headers: [(String, String)] = [], idleTimeout: Duration = .seconds(90)) -> AsyncThrowingStream<StreamPart, any Error> {
        let request = request("GET", path, headers: headers + [("Accept", "text/event-stream")], body: nil, timeout: nil, idleTimeout: idleTimeout)
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: StreamPart.self)
        let cancellation = CurlHTTP.Cancellation()
        continuation.onTermination = { _ in cancellation.cancel() }
        let sink = CurlHTTP.Sink(
            head: { continuation.yield(.head($0)) },
            data: { continuation.yield(.data($0)) })
        let url = base + path
        CurlHTTP.start(request, sink: sink, cancellation: cancellation) { failure in
            if let failure {
                continuation.finish(throwing: ClientError("GET \(url): \(failure.description)"))
            } else {
                continuation.finish()
            }
        }
        return stream
    }

    enum StreamPart: Sendable {
        case head(GatewayResponse)
        case data(Data)
    }
}

/// Reason phrases of the statuses the gateway uses.
enum HTTPReason {
    static func phrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: ""
        }
    }
}
