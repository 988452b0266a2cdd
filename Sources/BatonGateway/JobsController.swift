import BatonCore
import BatonNATS
import BatonStore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The `/v1/jobs` API: submit, status, result.
struct JobsController: Sendable {
    let dispatcher: JobDispatcher
    let store: JobStore
    let registry: ServiceRegistry
    let configuration: GatewayConfiguration
    /// The body limit in force (the configured one, lowered to fit NATS's max payload).
    let maxBody: Int

    static func location(of id: String) -> String { "/v1/jobs/\(id)" }

    /// The router's trie allows one parameter name per path position: after `/v1/jobs/` it is
    /// the service for `POST` and the job id for `GET`.
    static let segment = "segment"

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/jobs/:\(Self.segment)", use: submit)
        router.get("/v1/jobs/:\(Self.segment)", use: status)
        router.get("/v1/jobs/:\(Self.segment)/result", use: result)
    }

    // MARK: - POST /v1/jobs/{service}

    @Sendable func submit(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let name = try context.parameters.require(Self.segment)
        guard ServiceName.isValid(name) else { throw Problem.invalidServiceName(name) }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBody {
            throw Problem.bodyTooLarge(limit: maxBody)
        }
        guard let service = try await lookup(name) else { throw Problem.unknownService(name) }
        var request = request
        let input: ByteBuffer
        do {
            input = try await request.collectBody(upTo: maxBody)
        } catch is NIOTooManyBytesError {
            throw Problem.bodyTooLarge(limit: maxBody)
        }

        let preferences = Preferences(headerValues: request.headers[values: .prefer])
        let wait: Duration
        var applied: String? = nil
        if preferences.respondAsync {
            wait = .zero
            applied = "respond-async"
        } else if let seconds = preferences.wait {
            wait = min(.seconds(seconds), configuration.maxWait)
            applied = "wait=\(wait.components.seconds)"
        } else {
            wait = configuration.defaultWait
        }

        let submission = try await dispatcher.submit(
            service: service, input: input, contentType: request.headers[.contentType], wait: wait)
        var headers: HTTPFields = [.vary: "Prefer"]
        if let applied { headers[.preferenceApplied] = applied }
        switch submission {
        case .answered(let id, let answer):
            headers[.batonJobID] = id
            return Self.response(for: answer, headers: headers)
        case .accepted(let record):
            headers[.location] = Self.location(of: record.id)
            return try statusResponse(record, status: .accepted, headers: headers)
        }
    }

    private func lookup(_ name: String) async throws -> ServiceRegistration? {
        do {
            return try await registry.lookup(name)
        } catch {
            throw Problem.unavailable("The service catalogue is unavailable (NATS): \(error)")
        }
    }

    // MARK: - GET /v1/jobs/{id}

    @Sendable func status(_: Request, context: BasicRequestContext) async throws -> Response {
        let record = try await record(context)
        return try statusResponse(record, status: .ok)
    }

    // MARK: - GET /v1/jobs/{id}/result

    @Sendable func result(_: Request, context: BasicRequestContext) async throws -> Response {
        let record = try await record(context)
        guard record.state.isTerminal else {
            return try statusResponse(record, status: .accepted, headers: [.location: Self.location(of: record.id)])
        }
        guard let answer = try await store.result(record.id) else {
            throw Problem(type: "/problems/no-result", title: "No result", status: 404,
                          detail: "Job \(record.id) ended \(record.state.rawValue) without an answer.", jobID: record.id)
        }
        return Self.response(for: answer, headers: [.batonJobID: record.id])
    }

    // MARK: - Helpers

    private func record(_ context: BasicRequestContext) async throws -> JobRecord {
        let id = try context.parameters.require(Self.segment)
        guard JobID.isValid(id) else { throw Problem.invalidJobID(id) }
        let found: StoredRecord?
        do {
            found = try await store.record(id)
        } catch {
            throw Problem.unavailable("Job records are unavailable (NATS): \(error)")
        }
        guard let found else { throw Problem.unknownJob(id) }
        return found.record
    }

    /// The status document, with `Retry-After` while the job is not finished.
    private func statusResponse(_ record: JobRecord, status: HTTPResponse.Status, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.batonJobID] = record.id
        if !record.state.isTerminal { headers[.retryAfter] = String(configuration.retryAfter) }
        return .json(status, try JSON.encode(JobStatus(record: record)), headers: headers)
    }

    /// A worker's answer as the HTTP response: its status, content type and body, untouched.
    static func response(for answer: JobAnswer, headers: HTTPFields) -> Response {
        var headers = headers
        if let contentType = answer.contentType { headers[.contentType] = contentType }
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: answer.body))
    }
}
