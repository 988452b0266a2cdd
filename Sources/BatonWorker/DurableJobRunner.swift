import BatonCore
import BatonNATS
import BatonStore
import Logging
import NIOCore

/// Runs durable jobs pulled from JetStream, so that no job is lost and none is answered twice:
///
/// 1. mark the record `running` (attempt = delivery count); a job whose record is already
///    terminal was finished before a crash: answer again from the stored result, ack;
/// 2. run the handler, heartbeating (`+WPI`) so a long job is not redelivered while alive;
/// 3. store the answer (first answer wins) and mark the record terminal (compare-and-set);
/// 4. answer the waiting gateway, publish the terminal event, and only then ack.
///
/// When NATS fails on the way, the job is handed back (`-NAK`) and runs again later; when the
/// worker stops mid-job, likewise. Record writes start from the revision last written (the
/// gateway passes the one it created in `Baton-Record-Revision`), so a job's bookkeeping costs
/// one round trip per write, not a read and a write.
struct DurableJobRunner: Sendable {
    let service: ServiceDefinition
    let connection: NATSConnection
    let store: JobStore
    let configuration: WorkerConfiguration
    let logger: Logger

    private enum Start {
        case running(StoredRecord)
        case finished(JobRecord)
    }

    func process(_ message: JetStreamMessage) async {
        guard let id = message.headers[Headers.jobID], JobID.isValid(id) else {
            logger.error("job message without a valid job id; terminating it", metadata: ["subject": "\(message.subject)"])
            try? message.terminate()
            return
        }
        var logger = self.logger
        logger[metadataKey: "job"] = "\(id)"
        let reply = message.headers[Headers.replyTo]

        let cursor: RecordCursor
        do {
            switch try await start(id, message: message) {
            case .finished(let record):
                if let reply, let answer = try await store.result(id) {
                    try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id))
                }
                logger.info("job already \(record.state.rawValue); acknowledging redelivery")
                try message.ack()
                return
            case .running(let stored):
                cursor = RecordCursor(stored)
            }
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
        let context = JobContext(job: job, connection: connection, store: store, cursor: cursor, logger: logger)
        guard let outcome = await runWithHeartbeat(message, { try await service.handler(job, context) }) else {
            logger.info("worker stopping mid-job; handing it back")
            try? message.nak()
            return
        }

        do {
            let connection = self.connection
            let stored = try await store.finish(
                id, service: service.name, answer: outcome.answer, state: outcome.state, error: outcome.error,
                worker: configuration.workerID, from: cursor.current,
                beforeEvent: { answer in
                    if let reply { try? connection.publish(answer.body, to: reply, headers: answer.natsHeaders(jobID: id)) }
                })
            try message.ack()
            logger.debug("job done", metadata: ["state": "\(outcome.state.rawValue)", "status": "\(stored.status)"])
        } catch {
            logger.warning("cannot record the answer; handing the job back", metadata: ["error": "\(error)"])
            try? message.nak(delay: .seconds(1))
        }
    }

    /// Marks the record running. On a first delivery the record is the one the gateway created
    /// (rebuilt from the message's headers and written against its revision); otherwise, or if
    /// that write conflicts, it is read first.
    private func start(_ id: String, message: JetStreamMessage) async throws -> Start {
        let now = Timestamp.now
        var guess: StoredRecord? = nil
        if message.deliveryCount == 1,
            let revision = message.headers[Headers.recordRevision].flatMap(UInt64.init),
            let created = message.headers[Headers.created].flatMap({ Timestamp(rfc3339: $0) })
        {
            guess = StoredRecord(record: JobRecord(id: id, service: service.name, lane: .durable, createdAt: created), revision: revision)
        }
        let written = try await store.update(id, from: guess) { record in
            guard !record.state.isTerminal else { return false }
            record.state = .running
            record.attempts = message.deliveryCount
            record.startedAt = record.startedAt ?? now
            record.worker = configuration.workerID
            return true
        }
        if let written { return .running(written) }
        if let existing = try await store.record(id) { return .finished(existing.record) }
        // The gateway's record is gone (retention ended): keep the job visible anyway.
        var record = JobRecord(id: id, service: service.name, lane: .durable, state: .running)
        record.attempts = message.deliveryCount
        record.startedAt = now
        record.worker = configuration.workerID
        return .running(StoredRecord(record: record, revision: try await store.create(record)))
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
