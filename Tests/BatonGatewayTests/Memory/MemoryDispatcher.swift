@testable import BatonGateway
import BatonCore
import BatonStore
import NIOCore

/// `JobDispatcher` in memory: the same two lanes, with the service's handler as the worker.
///
/// Durable: the job is recorded `queued`, then a worker task marks it running and ends it with
/// the handler's answer; the client waits for that end. Fast: the handler runs at once and the
/// job is recorded (`running`) only when the client's wait elapses, or up front for
/// `respond-async` and idempotent requests; the gateway records the answer that comes later.
struct MemoryDispatcher: JobSubmitting {
    let backend: MemoryBackend

    enum Pending: Sendable {
        case durable(JobRecord, wait: Duration)
        /// The handler's answer comes in `reply` (nil: no worker serves the service).
        case fast(id: String, service: String, reply: OneShot<JobAnswer?>, options: SubmitOptions, created: Timestamp)
    }

    func start(service: ServiceRegistration, input: ByteBuffer, contentType: String?, options: SubmitOptions) async throws -> SubmitStart<Pending> {
        let job = MemoryJob(id: options.id, service: service.name, input: input, contentType: contentType, owner: options.owner)
        switch service.lane {
        case .durable: return try startDurable(job, options: options)
        case .fast: return try await startFast(job, options: options)
        }
    }

    func answer(_ pending: Pending) async throws -> Submission {
        switch pending {
        case .durable(let record, let wait):
            if await backend.waitUntilEnded(record.id, timeout: wait), let answer = try await backend.record(record.id)?.ending?.answer {
                return .answered(id: record.id, answer)
            }
            return .accepted((try await backend.record(record.id)?.record) ?? record)
        case .fast(let id, let service, let reply, let options, let created):
            if let answered = await reply.value(within: options.wait) {
                guard let answer = answered else { throw Problem.noWorkers(service) }
                return .answered(id: id, answer)
            }
            let record = try recordRunning(MemoryJob(id: id, service: service, input: ByteBuffer(), owner: options.owner), options: options, created: created)
            finishInBackground(record, reply: reply)
            return .accepted(record)
        }
    }

    // MARK: - Durable lane

    private func startDurable(_ job: MemoryJob, options: SubmitOptions) throws -> SubmitStart<Pending> {
        var record = try JobRecord(.accept, by: .gateway, id: job.id, service: job.service, lane: .durable)
        record.deadline = options.deadline
        record.webhook = options.webhook(created: record.createdAt)
        record.owner = options.owner
        record.traceparent = options.trace.traceparent
        record.priority = options.priority
        record.replayOf = options.replayOf
        if backend.create(record) {
            runWorker(job)
        } else if let existing = backend.state.withLock({ $0.records[job.id]?.record }) {
            record = existing  // an idempotent retry: the job is queued already
        }
        guard options.wait > .zero else { return .ended(.accepted(record)) }
        return .waiting(.durable(record, wait: options.wait))
    }

    /// The worker: marks the job running, runs the handler, ends the job with its answer.
    private func runWorker(_ job: MemoryJob) {
        guard let handler = backend.handler(of: job.service) else { return }
        let backend = self.backend
        backend.track(job.id, Task {
            guard backend.update(job.id, .start, by: .worker, { record in
                record.attempts += 1
                record.startedAt = record.startedAt ?? .now
                record.worker = "memory-worker"
            }) != nil else { return }
            let answer: JobAnswer
            do {
                answer = try await handler(job)
            } catch is CancellationError {
                return  // cancelled: the cancel wrote the end
            } catch {
                answer = JobAnswer(status: 500, contentType: "text/plain", body: ByteBuffer(string: "\(error)"))
            }
            _ = try? backend.complete(job.id, with: answer)
        })
    }

    // MARK: - Fast lane

    private func startFast(_ job: MemoryJob, options: SubmitOptions) async throws -> SubmitStart<Pending> {
        let created = Timestamp.now
        let reply = send(job)
        guard options.wait == .zero || options.recordUpFront else {
            return .waiting(.fast(id: job.id, service: job.service, reply: reply, options: options, created: created))
        }
        let record = try recordRunning(job, options: options, created: created)
        finishInBackground(record, reply: reply)
        if options.wait == .zero { return .ended(.accepted(record)) }
        guard await backend.waitUntilEnded(job.id, timeout: options.wait), let answer = try await backend.record(job.id)?.ending?.answer else {
            return .ended(.accepted((try await backend.record(job.id)?.record) ?? record))
        }
        return .ended(.answered(id: job.id, answer))
    }

    /// A core NATS request, in memory: the handler's answer, or nil when no worker serves it.
    private func send(_ job: MemoryJob) -> OneShot<JobAnswer?> {
        let reply = OneShot<JobAnswer?>()
        let handler = backend.handler(of: job.service)
        Task {
            guard let handler else { return reply.set(nil) }
            do {
                reply.set(try await handler(job))
            } catch {
                reply.set(JobAnswer(status: 500, contentType: "text/plain", body: ByteBuffer(string: "\(error)")))
            }
        }
        return reply
    }

    private func recordRunning(_ job: MemoryJob, options: SubmitOptions, created: Timestamp) throws -> JobRecord {
        var record = try JobRecord(.acceptRunning, by: .gateway, id: job.id, service: job.service, lane: .fast, createdAt: created)
        record.webhook = options.webhook(created: created)
        record.owner = options.owner
        record.replayOf = options.replayOf
        record.traceparent = options.trace.traceparent
        record.attempts = 1
        record.startedAt = created
        guard backend.create(record) else { return backend.state.withLock { $0.records[job.id]?.record } ?? record }
        return record
    }

    /// Records the fast-lane answer that comes after the client's wait, that no worker serves the
    /// service, or that none came within the gateway's default `fastLaneTimeout`.
    private func finishInBackground(_ record: JobRecord, reply: OneShot<JobAnswer?>) {
        let backend = self.backend
        Task {
            let answer: JobAnswer
            switch await reply.value(within: GatewayConfiguration().fastLaneTimeout) {
            case .some(.some(let reply)):
                answer = reply
            case .some(.none):
                let problem = Problem.noWorkers(record.service)
                answer = JobAnswer(status: 503, contentType: Problem.mediaType, body: problem.encoded())
            case .none:
                let problem = Problem.noAnswer(job: record.id)
                answer = JobAnswer(status: 504, contentType: Problem.mediaType, body: problem.encoded())
            }
            let ending = JobEnding(
                answer: answer, state: answer.status < 400 ? .succeeded : .failed, service: record.service, startedAt: record.startedAt,
                attempts: 1)
            _ = try? backend.finish(record.id, by: .gateway, ending: ending)
        }
    }
}
