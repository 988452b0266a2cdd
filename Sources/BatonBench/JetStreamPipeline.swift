import ArgumentParser
import BatonNATS
import Foundation
import Logging
import NIOCore

/// Phase RD of `make bench`: the durable lane's design with nothing of Baton in it — what a
/// durable job costs on this stack before any of Baton's own work.
///
/// The relay (`baton-bench hello --nats-url`, `POST /relay-jobs/<name>`) publishes the body
/// to `BENCH_JOBS` (a work-queue stream on file, the job's id as message id, the reply
/// subject in a header) and waits on its inbox; this worker pulls it through one consumer,
/// stores the answer create-only in a KV bucket, answers the relay, and acks. Per job:
/// two stored messages (job, answer) and an ack, where Baton's durable lane adds its record
/// (three), its lifecycle, ids, headers, trace context, metrics and the webhook checks.
enum JetStreamPipeline {
    static let stream = "BENCH_JOBS"
    static let bucket = "bench-results"
    static let replyHeader = "Bench-Reply"

    static func subject(_ name: String) -> String { "bench.jobs.\(name)" }

    /// The stream and bucket, shaped like Baton's jobs stream and results bucket (file storage,
    /// one replica, 24 h, the same duplicate window).
    static func ensure(_ jetStream: JetStream) async throws -> KeyValueBucket {
        try await ensure(stream: stream, subjects: "bench.jobs.>", bucket: bucket, jetStream)
    }

    /// A work-queue stream on file and a KV bucket beside it, kept 24 h, as Baton's.
    private static func ensure(stream: String, subjects: String, bucket: String, _ jetStream: JetStream) async throws -> KeyValueBucket {
        var spec = StreamSpec(name: stream, subjects: [subjects])
        spec.retention = .workQueue
        spec.maxAge = .seconds(24 * 3600)
        spec.discardNew = true
        try await jetStream.ensureStream(spec)
        return try await KeyValueBucket.ensure(bucket, jetStream: jetStream, ttl: .seconds(24 * 3600))
    }

    /// Phase RA's stream and bucket: `respond-async` accepts with nothing of Baton in them. The
    /// stream is shaped like Baton's jobs stream, the bucket like its records bucket; no worker
    /// takes these jobs (`bench/run.sh` purges the stream after the phase).
    static let acceptStream = "BENCH_ACCEPTS"
    static let recordBucket = "bench-records"

    static func ensureAccepts(_ jetStream: JetStream) async throws -> KeyValueBucket {
        try await ensure(stream: acceptStream, subjects: "bench.accepts.>", bucket: recordBucket, jetStream)
    }

    /// An accept as Baton's `respond-async` does it, with nothing of Baton's in it: the job is
    /// published (its id as message id), and from its acknowledgement, where it lands, its record
    /// (`{"id","state","queueSequence"}`, create-only) is sent; the task wakes once, for the
    /// record's acknowledgement. Returns the record's body for the `202`.
    static func accept(_ body: ByteBuffer, name: String, jetStream: JetStream, records: KeyValueBucket) async throws -> ByteBuffer {
        let id = UUID().uuidString
        let sent = try jetStream.send(body, to: "bench.accepts.\(name)", messageID: id)
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer, any Error>) in
            sent.whenAcknowledged { acknowledgement in
                do {
                    let sequence = try acknowledgement.get().sequence
                    let record = ByteBuffer(string: #"{"id":"\#(id)","service":"\#(name)","state":"queued","queueSequence":\#(sequence)}"#)
                    try records.sendCreate(id, record).whenAcknowledged { created in
                        continuation.resume(with: created.map { _ in record })
                    }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// The relay's side: publish, then wait for the answer on this connection's inbox.
    static func submit(_ body: ByteBuffer, name: String, jetStream: JetStream) async throws -> ByteBuffer {
        let connection = jetStream.connection
        let reply = connection.makeReplySubject()
        let id = UUID().uuidString
        do {
            try await jetStream.publish(body, to: subject(name), headers: [replyHeader: reply], messageID: id)
        } catch {
            connection.discardReplySubject(reply)
            throw error
        }
        guard let answer = await connection.waitForReply(on: reply, timeout: .seconds(5)) else {
            throw NATSError(.timeout, "no answer from the bench worker")
        }
        return answer.payload
    }
}

/// `baton-bench js-worker`: phase RD's worker (see `JetStreamPipeline`).
struct JetStreamWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "js-worker", abstract: "Answer phase RD's jobs: pull, store the answer, reply, ack (no Baton logic).")

    @Option(name: .customLong("nats-url")) var natsURL = "nats://127.0.0.1:4222"
    @Option(help: "The jobs' name: subject bench.jobs.<name>.") var name = "echo"
    @Option(help: "Jobs in flight at once (as the Baton worker's --concurrency).") var concurrency = 256

    func run() async throws {
        let logger = benchLogger("bench.js-worker")
        let connection = try await benchConnection(natsURL, name: "bench-js-worker", logger: logger)
        let jetStream = try JetStream(connection)
        let results = try await JetStreamPipeline.ensure(jetStream)
        let consumer = "bench-\(name)"
        try await jetStream.ensureConsumer(
            ConsumerSpec(stream: JetStreamPipeline.stream, durable: consumer, filterSubject: JetStreamPipeline.subject(name)))
        let puller = PriorityPuller(jetStream: jetStream, stream: JetStreamPipeline.stream, consumers: [consumer])
        try await puller.run(maxInFlight: concurrency, logger: logger) { message in
            guard let id = message.headers["Nats-Msg-Id"] else {
                try? message.terminate()
                return
            }
            do {
                try await results.create(id, message.payload, headers: ["Status": "200"])
                if let reply = message.headers[JetStreamPipeline.replyHeader] { try connection.publish(message.payload, to: reply) }
                try message.ack()
            } catch {
                try? message.nak(delay: .seconds(1))
            }
        }
    }
}
