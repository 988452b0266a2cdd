import BatonCore
import BatonNATS
import BatonObservability
import BatonStore
import BatonWebhooks
import Foundation
import Logging
import NIOCore

/// Delivers the webhooks of ended jobs: every gateway pulls terminal events from the durable
/// consumer `baton-webhooks` they share, so each event goes to one gateway, and one that dies
/// mid-delivery leaves it unacknowledged for another to take after the ack wait.
///
/// Per event: events of jobs without a webhook are acked at once. A `held` webhook (a client
/// still waits synchronously) is looked at again when its hold ends. A `pending` one is POSTed,
/// signed per Standard Webhooks with a `webhook-id` that is the job id (stable across retries);
/// a 2xx marks it `delivered`; anything else is retried on the schedule (or after the target's
/// `Retry-After` on 429/503) by handing the event back with a delay; after the last attempt it
/// is `failed` and copied to `BATON_DLQ`. The record shows state, attempts and last error.
struct WebhookDispatcher: Sendable {
    let jetStream: JetStream
    let store: JobStore
    let client: WebhookClient
    let configuration: WebhookConfiguration
    let layout: Layout
    /// Records a `webhook attempt` span per POST, in the job's trace, when tracing is on.
    let tracer: JobTracer?
    let logger: Logger

    func run() async throws {
        guard let secret = configuration.secret else { return }
        let signer = WebhookSigner(secret: secret)
        try await jetStream.ensureConsumer(layout.webhooksConsumer(ackWait: configuration.effectiveAckWait))
        // One consumer, so one level: the puller's scan/idle-cover rule applies as for workers.
        let puller = PriorityPuller(jetStream: jetStream, stream: Streams.events, consumers: [Streams.webhooksConsumer])
        try await puller.run(maxInFlight: configuration.concurrency, logger: logger) { message in
            await handle(message, signer: signer)
        }
    }

    /// How often an event is looked at again while its record reads as not ended.
    static let staleReadRetries = 30

    private func handle(_ message: JetStreamMessage, signer: WebhookSigner) async {
        guard let event = try? JSON.decode(DoneEvent.self, from: message.payload) else {
            try? message.terminate()
            return
        }
        guard event.webhook == true else {
            try? message.ack()
            return
        }
        var logger = self.logger
        logger[metadataKey: "job"] = "\(event.job)"
        do {
            // Read from the streams' leaders: whether to POST is decided on the webhook's state,
            // which a replica that lags (a restarted node catching up, or one an older server
            // left out of step, `ServerCapabilities.replicasAlwaysCatchUp`) may show from
            // before the gateway marked it `skipped` or `delivered`. The event is published after
            // the job's end, so a job not ended yet is a read before a new leader caught up:
            // look again shortly. Bounded, so an event whose record expired does not cycle.
            guard let stored = try await store.record(event.job, fromLeaders: true), stored.record.state.isTerminal else {
                if message.deliveryCount < Self.staleReadRetries {
                    try message.nak(delay: .seconds(1))
                } else {
                    logger.warning("no ended record for a terminal event; dropping its webhook", metadata: ["deliveries": "\(message.deliveryCount)"])
                    try message.ack()
                }
                return
            }
            guard let webhook = stored.record.webhook else {
                try message.ack()
                return
            }
            switch webhook.state {
            case .delivered, .failed, .skipped:
                try message.ack()
            case .held:
                if let until = webhook.holdUntil, until > .now {
                    try message.nak(delay: .milliseconds(until.milliseconds - Timestamp.now.milliseconds + 100))
                    return
                }
                // The hold has ended: take the webhook from the gateway that held it, by
                // compare-and-set, before sending it. A gateway that settles it at the same
                // moment then finds it taken and answers its client 202 instead of the answer.
                let taken = try await store.settleHeldWebhook(event.job, to: .pending)
                guard taken, let claimed = try await store.record(event.job, fromLeaders: true), let pending = claimed.record.webhook else {
                    try message.nak()  // settled meanwhile: look again
                    return
                }
                try await deliver(claimed, webhook: pending, message: message, signer: signer, logger: logger)
            case .pending:
                try await deliver(stored, webhook: webhook, message: message, signer: signer, logger: logger)
            }
        } catch {
            logger.warning("webhook bookkeeping failed; retrying the event", metadata: ["error": "\(error)"])
            try? message.nak(delay: .seconds(1))
        }
    }

    private func deliver(
        _ stored: StoredRecord, webhook: WebhookStatus, message: JetStreamMessage, signer: WebhookSigner, logger: Logger
    ) async throws {
        let record = stored.record
        let attempt = webhook.attempts + 1
        var answer = stored.ending?.answer
        if answer == nil { answer = try await store.result(record.id) }
        let body = try WebhookPayload.encode(record: record, answer: answer)
        var headers = signer.headers(id: record.id, timestamp: Int(Timestamp.now.milliseconds / 1000), body: body)
        headers.append((name: "Content-Type", value: "application/json"))
        // The receiver continues the job's trace: from this attempt's span when tracing is on.
        let span = tracer.map { $0.start(.webhookAttempt, parent: record.traceparent.flatMap { TraceContext(traceparent: $0) }) }
        if let span {
            span.set(JobSpan.Attribute.job, record.id)
            span.set(JobSpan.Attribute.service, record.service)
            span.set(JobSpan.Attribute.priority, record.priority?.rawValue)
            span.set(JobSpan.Attribute.attempt, attempt)
        }
        if let traceparent = span?.trace.traceparent ?? record.traceparent { headers.append((name: "traceparent", value: traceparent)) }
        let response: WebhookResponse
        do {
            // Resolved (and checked) at each attempt; the client pins the checked addresses.
            let target = try await configuration.policy.resolve(webhook.url)
            let client = self.client
            let signed = headers
            // Heartbeats keep a slow target's event with this gateway while it lives, so the ack
            // wait can be short: it is how fast a dead gateway's delivery moves on.
            response = await message.keepingInProgress(every: heartbeatInterval) { await client.post(to: target, headers: signed, body: body) }
        } catch {
            response = WebhookResponse(status: nil, error: "\(error)", duration: .zero)
        }

        if let span {
            span.set(JobSpan.Attribute.httpStatus, response.status)
            span.end(failure: response.isSuccess ? nil : response.error ?? "HTTP \(response.status ?? 0)")
        }
        GatewayMetrics.webhookAttempt(
            response.isSuccess ? "delivered" : (configuration.schedule.delay(afterAttempt: attempt) == nil ? "failed" : "retry"),
            duration: response.duration)
        if response.isSuccess {
            logger.info("webhook delivered", metadata: ["attempt": "\(attempt)", "status": "\(response.status ?? 0)"])
            try await settle(message, logger: logger) {
                try await update(stored) { webhook in
                    webhook.state = .delivered
                    webhook.attempts = attempt
                    webhook.deliveredAt = .now
                    webhook.lastError = nil
                }
            }
            try message.ack()
            return
        }

        let error = response.error ?? response.status.map { "HTTP \($0)" } ?? "failed"
        if let scheduled = configuration.schedule.delay(afterAttempt: attempt) {
            let delay = response.retryAfter.map { min($0, .seconds(86_400)) } ?? scheduled
            logger.info("webhook attempt failed; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error)", "delay": "\(delay)"])
            try await settle(message, logger: logger) {
                try await update(stored) { webhook in
                    webhook.state = .pending
                    webhook.attempts = attempt
                    webhook.lastError = error
                }
            }
            try message.nak(delay: delay)
        } else {
            logger.warning("webhook failed every attempt; dead-lettered", metadata: ["attempts": "\(attempt)", "error": "\(error)"])
            var payload = ByteBuffer()
            payload.writeBytes(body)
            try await settle(message, logger: logger) {
                try await update(stored) { webhook in
                    webhook.state = .failed
                    webhook.attempts = attempt
                    webhook.lastError = error
                }
                try await store.deadLetter(
                    .webhook, id: record.id, service: record.service, payload: payload, contentType: "application/json",
                    attempts: attempt, error: error, owner: record.owner)
            }
            try message.ack()
        }
    }

    /// Records the outcome of an attempt that was made. While NATS cannot take the write (a
    /// stream electing a leader) it is tried again here, the event kept in progress, for up to
    /// `bookkeepingRetryLimit`: handing the event back would POST the webhook again. The writes
    /// are idempotent (compare-and-set that re-reads on conflict; the dead letter has a message id).
    private func settle(_ message: JetStreamMessage, logger: Logger, _ write: () async throws -> Void) async throws {
        let (_, tries) = try await message.retryingInProgress(
            for: Self.bookkeepingRetryLimit, maxPause: heartbeatInterval,
            onFirstFailure: { logger.warning("cannot record the webhook outcome yet; retrying", metadata: ["error": "\($0)"]) },
            write)
        if tries > 1 { logger.info("webhook outcome recorded", metadata: ["tries": "\(tries)"]) }
    }

    /// How often an event being worked on tells JetStream it is alive (+WPI): well within the ack
    /// wait, which is how fast a dead gateway's delivery moves on.
    private var heartbeatInterval: Duration { max(.milliseconds(100), configuration.effectiveAckWait / 3) }

    /// How long the outcome of a delivery is retried in place before the event is handed back.
    static let bookkeepingRetryLimit: Duration = .seconds(30)

    private func update(_ stored: StoredRecord, _ change: @escaping (inout WebhookStatus) -> Void) async throws {
        try await store.update(stored.record.id, from: stored, by: .gateway) { record in
            guard var webhook = record.webhook else { return false }
            change(&webhook)
            record.webhook = webhook
            return true
        }
    }
}

/// The JSON a webhook POSTs (Standard Webhooks shape: `type`, `timestamp`, `data`).
enum WebhookPayload {
    struct Body: Encodable {
        var type: String
        var timestamp: Timestamp
        var data: Data
    }

    struct Data: Encodable {
        var id: String
        var service: String
        var state: JobState
        var attempts: Int
        var createdAt: Timestamp
        var startedAt: Timestamp?
        var finishedAt: Timestamp?
        var error: String?
        var answer: Answer?
    }

    /// The answer as the sync call would have returned it; `body` when it is UTF-8 text,
    /// `bodyBase64` otherwise.
    struct Answer: Encodable {
        var status: Int
        var contentType: String?
        var body: String?
        var bodyBase64: String?
    }

    static func encode(record: JobRecord, answer: JobAnswer?) throws -> [UInt8] {
        let answer = answer.map { answer -> Answer in
            let bytes = Array(answer.body.readableBytesView)
            if let text = String(validating: bytes, as: UTF8.self) {
                return Answer(status: answer.status, contentType: answer.contentType, body: text)
            }
            return Answer(status: answer.status, contentType: answer.contentType, bodyBase64: Foundation.Data(bytes).base64EncodedString())
        }
        let body = Body(
            type: "job.\(record.state.rawValue)", timestamp: .now,
            data: Data(
                id: record.id, service: record.service, state: record.state, attempts: record.attempts,
                createdAt: record.createdAt, startedAt: record.startedAt, finishedAt: record.finishedAt,
                error: record.error, answer: answer))
        return Array(try JSON.encode(body).readableBytesView)
    }
}
