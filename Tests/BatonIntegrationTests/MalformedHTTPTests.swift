import BatonTestSupport
import Foundation
import Testing

/// Requests NIO's HTTP/1 parser refuses get a problem document and a 4xx, like any bad input:
/// before a route sees them (a bad request line, a control character in a header, too many
/// header fields), inside a body (a broken chunk), and after whole pipelined requests (answered
/// after their responses). Raw bytes over a socket to the shared system's gateway.
@Suite("malformed HTTP/1.1 requests", .timeLimit(.minutes(1)))
struct MalformedHTTPTests {
    private func expectProblem(_ request: String, status: Int, type: String) async throws {
        try await expectRefusal(port: SharedSystem.get().gateway.port, request, status: status, type: type)
    }

    @Test func aBadRequestLineIsAProblem() async throws {
        try await expectProblem("GARBAGE\r\n\r\n", status: 400, type: "/problems/bad-request")
    }

    @Test func aControlCharacterInAHeaderIsAProblem() async throws {
        try await expectProblem(
            "POST /v1/jobs/echo HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\u{01}b\r\nContent-Length: 1\r\n\r\nx",
            status: 400, type: "/problems/bad-request")
    }

    @Test func twoContentLengthsAreAProblem() async throws {
        try await expectProblem(
            "POST /v1/jobs/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
            status: 400, type: "/problems/bad-request")
    }

    @Test func tooManyHeaderFieldsAreA431Problem() async throws {
        let fields = (0..<1_001).map { "X-Field-\($0): v\r\n" }.joined()
        try await expectProblem("GET /healthz HTTP/1.1\r\nHost: x\r\n\(fields)\r\n", status: 431, type: "/problems/http-431")
    }

    /// The route reading the body gets the parser's error: a 400, not a 500.
    @Test func aBrokenChunkInABodyIsAProblem() async throws {
        try await expectProblem(
            "POST /v1/jobs/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\nzz\r\n",
            status: 400, type: "/problems/bad-request")
    }

    /// A well-formed request and garbage after it in one write: the request is answered, then
    /// the garbage gets its problem.
    @Test func garbageAfterAPipelinedRequestIsAnsweredAfterIt() async throws {
        let port = try await SharedSystem.get().gateway.port
        let responses = try await RawHTTP.exchange(
            port: port, "POST /v1/jobs/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirstGARBAGE\r\n\r\n")
        try #require(responses.count == 2, "\(responses)")
        #expect(responses[0].status == 200)
        #expect(responses[0].body == "first")
        #expect(responses[1].status == 400)
        #expect(responses[1].headers["content-type"] == "application/problem+json")
        #expect(responses[1].body.contains("/problems/bad-request"))
    }

    /// After all of that the gateway still serves.
    @Test func theGatewayServesOnAfterARefusal() async throws {
        let system = try await SharedSystem.get()
        _ = try await RawHTTP.exchange(port: system.gateway.port, "GARBAGE\r\n\r\n")
        let answer = try await system.client.post("/v1/jobs/echo", "still here")
        #expect(answer.status == 200)
        #expect(answer.text == "still here")
    }
}
