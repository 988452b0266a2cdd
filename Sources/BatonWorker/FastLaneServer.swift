import BatonCore
import BatonNATS
import Logging

/// Serves a fast-lane service: core NATS request-reply on `baton.svc.<service>` in queue group
/// `baton.<service>`, at most `concurrency` handlers at once. Nothing is recorded; the gateway
/// that sent the request owns the job (and records it only when it switches to `202`).
///
/// A class, as `DurableJobRunner`: each request's task holds it.
final class FastLaneServer: Sendable {
    let service: ServiceDefinition
    let connection: NATSConnection
    let cancellations: Cancellations
    let configuration: WorkerConfiguration
    let logger: Logger
    /// This process's `$SRV.STATS` counters for the service.
    let stats: MicroEndpointStats

    init(
        service: ServiceDefinition, connection: NATSConnection, cancellations: Cancellations, configuration: WorkerConfiguration,
        logger: Logger, stats: MicroEndpointStats
    ) {
        self.service = service
        self.connection = connection
        self.cancellations = cancellations
        self.configuration = configuration
        self.logger = logger
        self.stats = stats
    }

    /// Serves until `stopping` (then it stops taking requests, lets the handlers running finish
    /// and returns) or until cancelled (handlers are cancelled too and answer 503).
    func run(stopping: StopSignal) async throws {
        let tasks = FastLaneTasks(
            limit: configuration.concurrency, bufferLimit: connection.configuration.subscriptionBufferLimit, start: service.start,
            logger: logger
        ) { [self] request, cancel in
            await handle(request, cancel: cancel)
        }
        let subscription = try connection.subscribe(
            direct: Subjects.fast(service: service.name), queue: Subjects.queueGroup(service: service.name),
            onMessage: { tasks.admit($0) }, onComplete: { tasks.close() })
        await withTaskCancellationHandler {
            await stopping.wait()
            subscription.drain()
            await tasks.finished()
        } onCancel: {
            subscription.drain()
            tasks.cancelAll()
        }
    }

    /// Runs one request in the task `FastLaneTasks` started for it; `cancel` cancels that task.
    private func handle(_ request: NATSMessage, cancel: @escaping @Sendable () -> Void) async {
        guard let replyTo = request.replyTo else { return }
        let id = request.headers[Headers.jobID].flatMap { JobID.isValid($0) ? $0 : nil } ?? JobID.make()
        let trace = request.headers[Headers.traceparent].flatMap { TraceContext(traceparent: $0, tracestate: request.headers[Headers.tracestate]) }
        let span = configuration.tracer?.take(id, service: service.name, priority: nil, delivery: 1, trace: trace, headers: request.headers)
        let job = Job(
            id: id, service: service.name, lane: .fast, input: request.payload,
            contentType: request.headers[Headers.contentType], trace: span?.trace ?? trace
        )
        let context = JobContext(job: job, connection: connection, store: nil, logger: JobLogger(base: logger, id: id, trace: job.trace))
        let token = cancellations.register(id)
        defer { cancellations.done(id) }
        let taken = ContinuousClock.now
        let inFlight = WorkerMetrics.inFlight(service: service.name)
        inFlight.increment()
        defer { inFlight.decrement() }
        token.onCancel(cancel)
        let (stats, handler) = (stats, service.handler)
        let result = await JobOutcome.of(jobID: id) { try await stats.measure { try await handler(job, context) } }
        let outcome = result
            ?? (token.isCancelled
                ? JobOutcome.failure(status: 409, message: "The job was cancelled.", jobID: id)
                : JobOutcome.failure(status: 503, message: "The worker is shutting down.", jobID: id))
        span?.end(outcome, reason: "")
        WorkerMetrics.finished(
            service: service.name, state: (token.isCancelled ? JobState.cancelled : outcome.state).rawValue,
            duration: ContinuousClock.now - taken)
        var headers = outcome.answer.natsHeaders(jobID: id)
        if outcome.state == .failed {
            // The NATS micro-service convention, so `nats req` users see the failure too.
            headers["Nats-Service-Error"] = outcome.error ?? "failed"
            headers["Nats-Service-Error-Code"] = String(outcome.answer.status)
        }
        do {
            try connection.publish(outcome.answer.body, to: replyTo, headers: headers)
        } catch {
            logger.warning("fast-lane answer not sent", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }
}
