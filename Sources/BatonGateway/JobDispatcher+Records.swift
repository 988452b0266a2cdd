import BatonCore
import BatonNATS
import BatonStore
import NIOCore

/// The durable lane's records: written after the job's publish, or before it (webhooks,
/// idempotency keys), and marked when the job could not be queued.
extension JobDispatcher {
    /// Writes the record of a job published before it. The write overlaps the job's run: a
    /// worker needs no record to start (it rebuilds one from the headers). A job published
    /// without its record still runs (its worker records it), so a record that cannot be
    /// written is retried once and then only logged.
    func createRecord(_ record: JobRecord) async {
        for attempt in 1...2 {
            do {
                _ = try await store.create(record, by: .gateway)
                return
            } catch let error as NATSError where error.kind == .wrongLastSequence {
                return  // its worker's running mark came first: the job is no longer queued
            } catch {
                guard attempt == 2 else { continue }
                logger.warning("job queued without its record; its worker records it", metadata: ["job": "\(record.id)", "error": "\(error)"])
            }
        }
    }

    /// Publishes a job whose record is written after it (`Baton-Record: headers`), then writes
    /// the record with the job message's stream sequence (`JobRecord.queueSequence`), so that a
    /// cancel while the job is queued can delete the message (`Baton-Cancel: delete`) and a
    /// worker's first delivery needs no look for an end. Returns that record. A job that
    /// cannot be published has no record (the client gets a 503; the job never runs).
    ///
    /// The record is sent from the job's acknowledgement where it lands (nats.c's reading
    /// thread), and the task awaits only the record's: one wake-up for the two round trips, not
    /// one each (a `respond-async` accept is mostly hand-offs; bench/NOTES.md).
    func publishThenRecord(_ record: JobRecord, _ input: ByteBuffer, to subject: String, headers: NATSHeaders) async throws -> JobRecord {
        let sent = try jetStream.send(input, to: subject, headers: headers, messageID: record.id)
        let store = self.store
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<PublishedThenRecorded, Never>) in
            sent.whenAcknowledged { acknowledgement in
                var queued = record
                switch acknowledgement {
                case .failure(let error): return continuation.resume(returning: .notQueued(error))
                case .success(let ack): queued.queueSequence = ack.sequence
                }
                do {
                    try store.sendCreate(queued, by: .gateway).whenAcknowledged { [queued] created in
                        continuation.resume(returning: .queued(queued, recordError: created.failure))
                    }
                } catch {
                    continuation.resume(returning: .queued(queued, recordError: error))
                }
            }
        }
        switch outcome {
        case .notQueued(let error):
            throw error
        case .queued(let record, let error?):
            if (error as? NATSError)?.kind != .wrongLastSequence { await createRecord(record) }  // else: its worker's running mark came first
            return record
        case .queued(let record, nil):
            return record
        }
    }

    /// Writes the record, then publishes the job; returns the record as it stands. A record
    /// that exists already is an idempotent retry of a job whose first submit may have died
    /// before its publish: publish again (deduplicated by the job id).
    ///
    /// A record marked not queued is queued again as a new copy (`queuedAs`, its own message
    /// id): the first publish may have been stored after all (its reply timed out), and then a
    /// publish under the job id is dropped as a duplicate — while a worker that took that first
    /// copy saw the record `failed` and acked it unrun: a job left `queued` forever. The first
    /// copy, if still queued, is stale now (its worker acks it unrun).
    ///
    /// The record says `publishing` until the job is stored (`confirmStored`): one whose
    /// gateway stops in between is ended by its readers (`JobStore.settled`) instead of staying
    /// `queued` for a job no queue holds.
    func createThenPublish(_ record: JobRecord, _ input: ByteBuffer, to subject: String, headers: NATSHeaders) async throws -> JobRecord {
        var record = record
        record.publishing = true
        var headers = headers
        var stored: StoredRecord
        do {
            stored = StoredRecord(record: record, revision: try await store.create(record, by: .gateway))
        } catch let error as NATSError where error.kind == .wrongLastSequence {
            guard let existing = try await store.record(record.id) else { throw error }
            stored = existing
            if existing.record.state == .failed, existing.record.status == nil, existing.record.startedAt == nil {
                // Never queued (the first try got a 503): queue it now.
                let copy = JobID.make()
                stored =
                    try await store.update(record.id, from: existing, .requeue, by: .gateway) { record in
                        record.error = nil
                        record.finishedAt = nil
                        record.queuedAs = copy
                        record.publishing = true
                        return true
                    } ?? existing
            }
            record = stored.record
        }
        headers[Headers.queuedAs] = record.queuedAs
        do {
            try await jetStream.publish(input, to: subject, headers: headers, messageID: record.queuedAs ?? record.id)
            record = try await confirmStored(stored) ?? record
        } catch {
            await markNotQueued(record.id, because: error)
            throw error
        }
        record.publishing = nil
        return record
    }

    /// The job is stored: its record stops saying `publishing`, by compare-and-set from what this
    /// gateway wrote (a worker that started the job first has cleared it already: nil then).
    private func confirmStored(_ stored: StoredRecord) async throws -> JobRecord? {
        guard stored.record.publishing == true else { return nil }
        return try await store.update(stored.record.id, from: stored, by: .gateway) { record in
            guard record.publishing == true else { return false }
            record.publishing = nil
            return true
        }?.record
    }

    /// A job the gateway could not queue ends `failed` (its client gets a 503): a record must not
    /// stay `queued` for a job that is not.
    func markNotQueued(_ id: String, because error: any Error) async {
        let full = (error as? NATSError)?.kind == .streamFull
        _ = try? await store.markNotQueued(id, error: full ? "Not queued: the queue was full." : "The job could not be queued.")
    }
}

/// What `publishThenRecord` learned where the acknowledgements landed.
private enum PublishedThenRecorded: Sendable {
    case notQueued(any Error)
    /// The job is stored; its record is written unless `recordError` says otherwise.
    case queued(JobRecord, recordError: (any Error)?)
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
