import BatonCore
import BatonNATS
import BatonStore
import Logging
import NIOCore

/// Runs durable jobs pulled from JetStream, so that no job is lost and none is answered twice:
///
/// 1. a job whose record is already terminal was finished before a crash: answer again, ack;
/// 2. mark the record `running` (attempt = delivery count);
/// 3. run the handler, heartbeating (`+WPI`) so a long job is not redelivered while alive;
/// 4. store the answer (first answer wins) and mark the record terminal (compare-and-set);
/// 5. publish the terminal event, answer the waiting gateway, and only then ack.
///
/// When NATS fails on the way, the job is handed back (`-NAK`) and runs again later; when the
/// worker stops mid-job, likewise.
struct DurableJobRunner: Sendable {
    let service: ServiceDefinition
    let connection: NATSConnection
    let jetStream: JetStream
    let store: JobStore
    let configuration: WorkerConfiguration
    let logger: Logger

    func process(_ message: JetStreamMessage) async {
        guard let id = message.headers[Headers.jobID], JobID.isValid(id) else {
            logger.error("job message without a valid job id; terminating it", metadata: ["subject": "\(message.subject)"])
            try? message.terminate()
            return
        }
        var logger = self.logger
        logger[metadataKey: "job"] = "\(id)"
        let reply = message.headers[Headers.replyTo]

        do {
            if let (record, _) = try await store.record(id), record.state.isTerminal {
                if let reply, let answer = try await store.result(id) {
                    try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id))
                }
                logger.info("job already \(record.state.rawValue); acknowledging redelivery")
                try message.ack()
                return
            }
            try await markRunning(id, attempt: message.deliveryCount)
        } catch {
            logger.warning("cannot start job; handing it back", metadata: ["error": "\(error)"])
            try? message.nak(delay: .seconds(1))
            return
        }

        let job = Job(
            id: id, service: service.name, lane: .durable, input: message.payload,
            contentType: message.headers[Headers.contentType], attempt: message.deliveryCount,
            deadline: message.headers["Baton-Deadline"].flatMap { Timestamp(rfc3339: $0) }
        )
        let context = JobContext(job: job, connection: connection, store: store, logger: logger)
        let outcome = await runWithHeartbeat(message) { try await service.handler(job, context) }
        guard let (answer, state, errorText) = outcome.map({ ($0.answer, $0.state, $0.error) }) else {
            logger.info("worker stopping mid-job; handing it back")
            try? message.nak()
            return
        }

        do {
            let stored = try await store.finish(
                id, service: service.name, answer: answer, state: state, error: errorText, worker: configuration.workerID)
            if let reply {
                try? connection.publish(stored.body, to: reply, headers: stored.natsHeaders(jobID: id))
            }
            try message.ack()
            logger.debug("job done", metadata: ["state": "\(state.rawValue)", "status": "\(stored.status)"])
        } catch {
            logger.warning("cannot record the answer; handing the job back", metadata: ["error": "\(error)"])
            try? message.nak(delay: .seconds(1))
        }
    }

    private func markRunning(_ id: String, attempt: Int) async throws {
        let now = Timestamp.now
        let updated = try await store.update(id) { record in
            guard !record.state.isTerminal else { return false }
            record.state = .running
            record.attempts = attempt
            record.startedAt = record.startedAt ?? now
            record.worker = configuration.workerID
            return true
        }
        if updated == nil, try await store.record(id) == nil {
            // The gateway's record is gone (retention ended): keep the job visible anyway.
            var record = JobRecord(id: id, service: service.name, lane: .durable, state: .running)
            record.attempts = attempt
            record.startedAt = now
            record.worker = configuration.workerID
            try await store.create(record)
        }
    }

    /// Runs the handler while heartbeating the message. Returns nil when the worker is stopping.
    private func runWithHeartbeat(
        _ message: JetStreamMessage, _ body: @escaping @Sendable () async throws -> JobAnswer
    ) async -> JobOutcome? {
        let interval = configuration.heartbeatInterval
        let id = message.headers[Headers.jobID] ?? ""
        return await withTaskGroup(of: JobOutcome??.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if !Task.isCancelled { try? message.inProgress() }
                }
                return .none
            }
            group.addTask { .some(await JobOutcome.of(jobID: id, body)) }
            var result: JobOutcome? = nil
            while let next = await group.next() {
                if case .some(let outcome) = next {
                    result = outcome
                    group.cancelAll()
                }
            }
            return result
        }
    }
}
