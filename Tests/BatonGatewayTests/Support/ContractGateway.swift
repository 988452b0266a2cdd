@testable import BatonGateway
import BatonCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The gateway's router over an in-memory backend, driven through HummingbirdTesting's `.router`
/// framework: the requests go to the responder without sockets, NATS or workers.
struct ContractGateway {
    let backend = MemoryBackend()
    var configuration = GatewayConfiguration()
    var maxBody = 1 << 20

    init(_ configure: (inout GatewayConfiguration) -> Void = { _ in }) {
        configuration.defaultWait = .seconds(2)
        configure(&configuration)
    }

    /// Runs `body` with a client of the gateway.
    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let router = Gateway.buildRouter(backend, configuration: configuration, maxBody: maxBody)
        try await Application(router: router).test(.router) { client in try await body(client) }
    }
}

/// Two API keys, for the ownership tests.
enum TestKeys {
    static let alice = "alice-secret-0123456789"
    static let bob = "bob-secret-0123456789ab"
    static let file = "alice:\(alice)\nbob:\(bob)"

    static func bearer(_ secret: String) -> HTTPFields { [.authorization: "Bearer \(secret)"] }
}

/// Handlers the tests give their services.
enum Handlers {
    /// Answers with the input, its content type kept.
    static let echo: MemoryHandler = { job in JobAnswer(status: 200, contentType: job.contentType, body: job.input) }

    /// Never answers on its own: the test ends the job (`MemoryBackend.complete`) or cancels it.
    static let held: MemoryHandler = { _ in
        try await Task.sleep(for: .seconds(3600))
        throw CancellationError()
    }

    /// Answers with `status` and a problem document.
    static func failing(_ status: Int) -> MemoryHandler {
        { job in
            let problem = Problem.jobFailed(status: status, message: "not today", jobID: job.id)
            return JobAnswer(status: status, contentType: Problem.mediaType, body: problem.encoded())
        }
    }
}

extension TestClientProtocol {
    @discardableResult
    func post(_ uri: String, _ body: String = "", headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    @discardableResult
    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }

    @discardableResult
    func delete(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .delete, headers: headers)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    func json() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] ?? [:]
    }

    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }

    /// Checks an RFC 9457 problem document of `status` and `type`.
    func expectProblem(_ status: Int, type: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(self.status.code == status, "\(text)", sourceLocation: sourceLocation)
        #expect(header("Content-Type") == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try json()
        #expect(problem["status"] as? Int == status, sourceLocation: sourceLocation)
        #expect(problem["title"] is String, sourceLocation: sourceLocation)
        if let type { #expect(problem["type"] as? String == type, sourceLocation: sourceLocation) }
    }
}
