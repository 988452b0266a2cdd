import BatonCore
import BatonObservability
import BatonStore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The `/v1/jobs` API: submit, status, result, events, cancel, over a backend (NATS, or an
/// in-memory one in the contract tests).
///
/// A class: each route's async frames hold one reference to it, not a copy of its stored
/// properties (with 10,000 calls held, every byte of a frame counts 10,000 times).
final class JobsController<Backend: GatewayBackend>: Sendable {
    let backend: Backend
    let configuration: GatewayConfiguration
    /// The body limit in force (the configured one, lowered to fit NATS's max payload).
    let maxBody: Int
    let submits = SubmitsInFlight()

    init(backend: Backend, configuration: GatewayConfiguration, maxBody: Int) {
        self.backend = backend
        self.configuration = configuration
        self.maxBody = maxBody
    }

    /// The router's trie allows one parameter name per path position: after `/v1/jobs/` it is
    /// the service for `POST` and the job id for `GET`.
    static var segment: String { "segment" }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/jobs/:\(Self.segment)", use: submit)
        router.get("/v1/jobs/:\(Self.segment)", use: status)
        router.get("/v1/jobs/:\(Self.segment)/result", use: result)
        router.get("/v1/jobs/:\(Self.segment)/events", use: events)
        router.delete("/v1/jobs/:\(Self.segment)", use: cancel)
    }

    /// Who is asking (the API key's name, or `anonymous`); idempotency keys are scoped to it.
    static func caller(of _: Request) -> String { Caller.name }

    /// With API keys on, a job is visible to the key that created it only; to anyone else it
    /// does not exist.
    static func checkOwner(_ record: JobRecord) throws {
        if Caller.isAuthenticated, record.owner != Caller.name { throw Problem.unknownJob(record.id) }
    }

    // MARK: - POST /v1/jobs/{service}

    @Sendable func submit(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let call = SubmitCall(service: try context.parameters.require(Self.segment), request: request, tracer: configuration.tracer)
        do {
            return call.finished(try await submit(request, service: call.service, span: call.span))
        } catch {
            throw call.failed(error)
        }
    }

    /// A submit's metrics and span. Its bookkeeping is out of line: the frames of a held call
    /// live as long as the call (see `JobDispatcher.answer`).
    private struct SubmitCall {
        let service: String
        let span: JobSpan?
        let start = ContinuousClock.now

        init(service: String, request: Request, tracer: JobTracer?) {
            self.service = service
            span = tracer.map { $0.start(.gatewayRequest, parent: JobsController.incomingTrace(request)) }
            span?.set(JobSpan.Attribute.service, service)
        }

        @inline(never) func finished(_ response: Response) -> Response {
            GatewayMetrics.recordRequest(service: service, outcome: response.status == .accepted ? .accepted : .sync, since: start)
            span?.set(JobSpan.Attribute.httpStatus, response.status.code)
            span?.end(failure: response.status.code >= 500 ? "HTTP \(response.status.code)" : nil)
            return response
        }

        @inline(never) func failed(_ error: any Error) -> any Error {
            // Only registered services get their own label: clients cannot grow the label set.
            let name = service
            let known = (error as? Problem).map { $0.type != Problem.unknownService(name).type && $0.type != Problem.invalidServiceName(name).type } ?? true
            GatewayMetrics.recordRequest(service: known ? name : "unknown", outcome: .error, since: start)
            if let span {
                let status = (error as? Problem)?.statusCode ?? 500
                span.set(JobSpan.Attribute.httpStatus, status)
                span.end(failure: status >= 500 ? "\(error)" : nil)
            }
            return error
        }
    }

    /// What a submit has to do once its job is queued.
    private enum SubmitProgress: Sendable {
        case done(Response)
        /// The client waits for the answer; the response gets these headers.
        case waiting(Backend.Dispatcher.Pending, HTTPFields)
    }

    /// Everything up to the client's wait runs in a child task (`inChildTask`): a held call
    /// then holds only the memory of the wait itself; the only call in flight starts it on its
    /// own thread (`SubmitsInFlight`). A call that will not wait
    /// (`respond-async`) holds nothing after its `202`, and starts in the request's own task
    /// (a task group costs ~2 µs).
    private func submit(_ request: Request, service name: String, span: JobSpan?) async throws -> Response {
        let alone = submits.enter()
        defer { submits.leave() }
        let progress =
            Self.respondsAsync(request)
            ? try await start(request, service: name, span: span)
            : try await inChildTask(immediately: alone, { try await self.start(request, service: name, span: span) })
        switch progress {
        case .done(let response):
            return response
        case .waiting(let pending, let headers):
            return try response(to: try await backend.dispatcher.answer(pending), headers: headers)
        }
    }

    /// Whether the call asks for its `202` at once (`Prefer: respond-async`). Read apart, out of
    /// line and synchronously, so that the frame of `submit`, which lives for a held call's
    /// wait, keeps a `Bool` and not the parsed headers (`start` parses them all: 1.7 KB of
    /// frame a held call when `submit` parsed them, 10,000 held calls 286 → 305 MB).
    @inline(never) private static func respondsAsync(_ request: Request) -> Bool {
        Preferences(headerValues: request.headers[values: .prefer]).respondAsync
    }

    /// The caller's trace context, if it sent a valid one.
    static func incomingTrace(_ request: Request) -> TraceContext? {
        request.headers[.traceparent].flatMap { TraceContext(traceparent: $0, tracestate: request.headers[.tracestate]) }
    }

    private func start(_ request: Request, service name: String, span: JobSpan?) async throws -> SubmitProgress {
        guard ServiceName.isValid(name) else { throw Problem.invalidServiceName(name) }
        let fields = SubmitHeaders(request.headers)
        if let length = fields.contentLength.flatMap(Int.init), length > maxBody {
            throw Problem.bodyTooLarge(limit: maxBody)
        }
        let submit = try SubmitRequest(headers: fields, configuration: configuration)
        guard let service = try await lookup(name) else { throw Problem.unknownService(name) }
        var request = request
        let input: ByteBuffer
        do {
            input = try await request.collectBody(upTo: maxBody)
        } catch is NIOTooManyBytesError {
            throw Problem.bodyTooLarge(limit: maxBody)
        }

        let contentType = fields.contentType
        // The caller's trace continues with the gateway's span: the tracer's when tracing is on,
        // else a span id drawn here (a new trace's id is already the gateway's: no second draw).
        // Without a tracer the gateway records nothing: a trace it starts is not sampled.
        let trace = span?.trace ?? fields.incomingTrace?.child() ?? .random(sampled: false)
        var options = SubmitOptions(wait: submit.wait, deadline: submit.deadline, callbackURL: submit.callbackURL, trace: trace)
        options.owner = Caller.isAuthenticated ? Caller.name : nil
        options.priority = submit.priority
        var headers: HTTPFields = [.vary: "Prefer"]
        if let applied = submit.applied { headers[.preferenceApplied] = applied }

        if let key = submit.idempotencyKey {
            let fingerprint = Idempotency.fingerprint(service: name, contentType: contentType, body: input)
            let claim = IdempotencyKeys.Claim(job: options.id, fingerprint: fingerprint)
            let existing: IdempotencyKeys.Claim?
            do {
                existing = try await backend.claims.claim(Idempotency.storageKey(caller: Self.caller(of: request), key: key), claim)
            } catch {
                throw Problem.unavailable("Idempotency keys are unavailable (NATS): \(error)")
            }
            if let existing {
                guard existing.fingerprint == fingerprint else {
                    throw Problem.idempotencyKeyReused(key, job: existing.job)
                }
                headers[.idempotentReplayed] = "true"
                if let replay = try await replay(existing.job, wait: submit.wait, headers: headers) { return .done(replay) }
                // The first request claimed the key but died before its job was recorded:
                // submit it now under the same id (the publish is deduplicated by it).
                options.id = existing.job
            }
            options.recordUpFront = true
        }
        span?.set(JobSpan.Attribute.job, options.id)
        span?.set(JobSpan.Attribute.priority, options.priority.rawValue)

        switch try await backend.dispatcher.start(service: service, input: input, contentType: contentType, options: options) {
        case .ended(let submission): return .done(try response(to: submission, headers: headers))
        case .waiting(let pending): return .waiting(pending, headers)
        }
    }

    private func response(to submission: Submission, headers: HTTPFields) throws -> Response {
        var headers = headers
        switch submission {
        case .answered(let id, let answer):
            headers[.batonJobID] = id
            return Self.response(for: answer, headers: headers)
        case .accepted(let record):
            headers[.location] = JobStatus.location(of: record.id)
            return try statusResponse(record, status: .accepted, headers: headers)
        }
    }

    /// Answers a repeated idempotent request with the job of the first: its answer when it has
    /// ended (within the wait), else `202` with its status; nil when the job was never recorded.
    private func replay(_ id: String, wait: Duration, headers: HTTPFields) async throws -> Response? {
        guard let current = try await backend.jobs.record(id)?.record else { return nil }
        try Self.checkOwner(current)
        // The first request got a 503 (its job was never queued): this one submits it again.
        if current.state == .failed, current.status == nil, current.startedAt == nil { return nil }
        // Still queued and young enough for JetStream's duplicate window: publish it again —
        // dropped as a duplicate if the first publish got through, queued if it did not (the
        // first request's publish and its "not queued" mark can both fail while NATS elects).
        if current.state == .queued, current.lane == .durable,
            Timestamp.now.milliseconds - current.createdAt.milliseconds < 90_000
        {
            return nil
        }
        guard let stored = try await backend.watcher.waitForEnd(id, timeout: wait) else { return nil }
        let record = stored.record
        var headers = headers
        headers[.location] = JobStatus.location(of: id)
        if record.state.isTerminal, let answer = stored.ending?.answer {
            headers[.batonJobID] = id
            return Self.response(for: answer, headers: headers)
        }
        return try statusResponse(record, status: .accepted, headers: headers)
    }

    private func lookup(_ name: String) async throws -> ServiceRegistration? {
        do {
            return try await backend.services.lookup(name)
        } catch {
            throw Problem.unavailable("The service catalogue is unavailable (NATS): \(error)")
        }
    }

    // MARK: - GET /v1/jobs/{id}

    /// `Prefer: wait=N` long-polls: the answer comes as soon as the job ends, or after N s.
    @Sendable func status(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let (stored, headers) = try await record(context, longPoll: request)
        return try statusResponse(stored.record, status: .ok, headers: headers)
    }

    // MARK: - GET /v1/jobs/{id}/result

    @Sendable func result(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var (stored, headers) = try await record(context, longPoll: request)
        let record = stored.record
        guard record.state.isTerminal else {
            headers[.location] = JobStatus.location(of: record.id)
            return try statusResponse(record, status: .accepted, headers: headers)
        }
        guard let answer = stored.ending?.answer else {
            throw Problem.noResult(record.id, state: record.state)
        }
        headers[.batonJobID] = record.id
        return Self.response(for: answer, headers: headers)
    }

    // MARK: - GET /v1/jobs/{id}/events

    @Sendable func events(_: Request, context: BasicRequestContext) async throws -> Response {
        try backend.events.response(for: try await record(context).record)
    }

    // MARK: - DELETE /v1/jobs/{id}

    @Sendable func cancel(_: Request, context: BasicRequestContext) async throws -> Response {
        let id = try jobID(context)
        let current = try await record(context)  // 404 for someone else's job
        let outcome: JobStore.CancelOutcome
        do {
            outcome = try await backend.jobs.cancel(id, from: current)
        } catch {
            throw Problem.unavailable("The job could not be cancelled (NATS): \(error)")
        }
        switch outcome {
        case .unknown:
            throw Problem.unknownJob(id)
        case .alreadyEnded(let record):
            throw Problem.jobEnded(id, state: record.state)
        case .cancelled(let record):
            return try statusResponse(record, status: .ok)
        }
    }

    // MARK: - Helpers

    private func jobID(_ context: BasicRequestContext) throws -> String {
        let id = try context.parameters.require(Self.segment)
        guard JobID.isValid(id) else { throw Problem.invalidJobID(id) }
        return id
    }

    /// The record, after waiting for the job to end if the request says `Prefer: wait=N`.
    private func record(_ context: BasicRequestContext, longPoll request: Request) async throws -> (StoredRecord, HTTPFields) {
        guard let seconds = Preferences(headerValues: request.headers[values: .prefer]).wait else {
            return (try await record(context), [:])
        }
        let id = try jobID(context)
        let wait = min(.seconds(seconds), configuration.maxWait)
        let found: StoredRecord?
        do {
            found = try await backend.watcher.waitForEnd(id, timeout: wait)
        } catch {
            throw Problem.unavailable("Job records are unavailable (NATS): \(error)")
        }
        guard let found else { throw Problem.unknownJob(id) }
        try Self.checkOwner(found.record)
        return (found, [.preferenceApplied: "wait=\(wait.components.seconds)", .vary: "Prefer"])
    }

    /// The job (its record with its end, and its answer), for the caller's API key.
    private func record(_ context: BasicRequestContext) async throws -> StoredRecord {
        let id = try jobID(context)
        let found: StoredRecord?
        do {
            found = try await backend.jobs.record(id)
        } catch {
            throw Problem.unavailable("Job records are unavailable (NATS): \(error)")
        }
        guard let found else { throw Problem.unknownJob(id) }
        try Self.checkOwner(found.record)
        return found
    }

    /// The status document, with `Retry-After` while the job is not finished.
    private func statusResponse(_ record: JobRecord, status: HTTPResponse.Status, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.batonJobID] = record.id
        if !record.state.isTerminal { headers[.retryAfter] = String(configuration.retryAfter) }
        return .json(status, JobStatus(record: record).json(), headers: headers)
    }

    /// A worker's answer as the HTTP response: its status, content type and body, untouched.
    static func response(for answer: JobAnswer, headers: HTTPFields) -> Response {
        var headers = headers
        if let contentType = answer.contentType { headers[.contentType] = contentType }
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: answer.body))
    }
}
