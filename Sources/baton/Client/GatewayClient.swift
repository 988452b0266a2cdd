import ArgumentParser
import BatonHTTPClient
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

    /// `head`'s status and headers (the values of a repeated name joined by ", "), with `body`.
    init(_ head: HTTPClient.ResponseHead, body: Data) {
        var headers: [String: String] = [:]
        for (name, value) in head.headers { headers[name] = headers[name].map { "\($0), \(value)" } ?? value }
        self.init(status: head.status, headers: headers, body: body)
    }

    /// `200 OK`.
    var statusLine: String {
        let reason = HTTPReason.phrase(status)
        return reason.isEmpty ? "\(status)" : "\(status) \(reason)"
    }
}

/// The gateway's HTTP API, over `HTTPClient` (libcurl). A failure to talk to the gateway at all
/// (not an HTTP error status) is an `HTTPClientError` that names the request.
struct GatewayClient: Sendable {
    let base: String
    let apiKey: String?

    /// The process's one transport: a command has a request or two in flight at a time (`watch`
    /// holds a thread for as long as its stream lasts).
    private static let http = HTTPClient(maxConcurrent: 4)

    private func request(_ method: String, _ path: String, headers: [(String, String)], body: Data?, timeout: TimeInterval?, idleTimeout: Duration? = nil) -> HTTPClient.Request {
        var lines: [String] = []
        if let apiKey { lines.append("Authorization: Bearer \(apiKey)") }
        lines += headers.map { "\($0.0): \($0.1)" }
        return HTTPClient.Request(
            method: method, url: base + path, headerLines: lines, body: body.map { [UInt8]($0) }, userAgent: "baton-cli",
            connectTimeout: .seconds(10), timeout: timeout.map { .milliseconds(Int($0 * 1000)) }, idleTimeout: idleTimeout)
    }

    /// One request, the whole answer.
    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: Data? = nil, timeout: TimeInterval = 60) async throws -> GatewayResponse {
        do {
            let response = try await Self.http.send(request(method, path, headers: headers, body: body, timeout: timeout))
            return GatewayResponse(response.head, body: Data(response.body))
        } catch {
            throw HTTPClientError(error.kind, "\(method) \(base + path): \(error.description)")
        }
    }

    /// A streaming GET (server-sent events): the response head, then the body as it arrives.
    /// Ending the iteration early (or cancelling the task) stops the transfer within a second.
    func stream(_ path: String, headers: [(String, String)] = [], idleTimeout: Duration = .seconds(90)) -> AsyncThrowingStream<StreamPart, any Error> {
        let request = request("GET", path, headers: headers + [("Accept", "text/event-stream")], body: nil, timeout: nil, idleTimeout: idleTimeout)
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: StreamPart.self)
        let sink = HTTPClient.Sink(
            head: { continuation.yield(.head(GatewayResponse($0, body: Data()))) },
            body: { continuation.yield(.data(Data($0))) })
        let url = base + path
        let transfer = Self.http.start(request, sink: sink) { outcome in
            switch outcome.result {
            case .success: continuation.finish()
            case .failure(let error): continuation.finish(throwing: HTTPClientError(error.kind, "GET \(url): \(error.description)"))
            }
        }
        continuation.onTermination = { _ in transfer.cancel() }
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
