import BatonTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real HTTP client for the tests (URLSession; on Linux it runs on libcurl).
struct HTTPClient: Sendable {
    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data

        func header(_ name: String) -> String? {
            headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
        }

        var text: String { String(decoding: body, as: UTF8.self) }

        func json() throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:]
        }
    }

    let baseURL: String
    let session: URLSession

    init(baseURL: String) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 60
        session = URLSession(configuration: configuration)
    }

    func send(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil) async throws -> Response {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            fields["\(key)"] = "\(value)"
        }
        return Response(status: http.statusCode, headers: fields, body: data)
    }

    func post(_ path: String, _ body: String, headers: [String: String] = [:]) async throws -> Response {
        try await send("POST", path, headers: headers, body: Data(body.utf8))
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> Response {
        try await send("GET", path, headers: headers)
    }
}

/// Sends `request`'s raw bytes to `port` and expects one response, a problem document of `type`
/// and `status` (a request the listener's HTTP parser refuses), after which the server closed.
func expectRefusal(port: Int, _ request: String, status: Int, type: String) async throws {
    let responses = try await RawHTTP.exchange(port: port, request)
    try #require(responses.count == 1, "\(responses)")
    #expect(responses[0].status == status, "\(responses[0])")
    #expect(responses[0].headers["content-type"] == "application/problem+json", "\(responses[0])")
    #expect(responses[0].headers["connection"] == "close")
    let document = try JSONSerialization.jsonObject(with: Data(responses[0].body.utf8)) as? [String: Any]
    #expect(document?["type"] as? String == type, "\(responses[0].body)")
    #expect(document?["status"] as? Int == status)
    #expect((document?["detail"] as? String)?.isEmpty == false)
}
