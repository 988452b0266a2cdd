import CNats
import Logging
import Synchronization

/// Receives nats.c's connection callbacks (disconnected, reconnected, closed, async errors,
/// reconnect delay) and logs them. Retained for nats.c until its closed callback.
final class ConnectionEvents: Sendable {
    let logger: Logger
    let reconnectDelay: Duration
    let maxReconnectDelay: Duration
    private let reconnects = Atomic<Int>(0)

    init(logger: Logger, configuration: NATSConfiguration) {
        self.logger = logger
        self.reconnectDelay = configuration.reconnectDelay
        self.maxReconnectDelay = configuration.maxReconnectDelay
    }

    var reconnectCount: Int { reconnects.load(ordering: .relaxed) }

    /// Exponential backoff with ±20% jitter, in milliseconds (nats.c's unit).
    func delay(forAttempt attempt: Int) -> Int64 {
        let base = reconnectDelay.milliseconds
        let capped = min(maxReconnectDelay.milliseconds, base << min(Int64(max(attempt - 1, 0)), 16))
        let jitter = Int64.random(in: -(capped / 5)...(capped / 5))
        return max(1, capped + jitter)
    }

    func reconnected() {
        reconnects.add(1, ordering: .relaxed)
        logger.warning("NATS reconnected")
    }
}

private func events(_ closure: UnsafeMutableRawPointer?) -> ConnectionEvents? {
    closure.map { Unmanaged<ConnectionEvents>.fromOpaque($0).takeUnretainedValue() }
}

let reconnectDelayTrampoline: natsCustomReconnectDelayHandler = { _, attempts, closure in
    events(closure)?.delay(forAttempt: Int(attempts)) ?? 1_000
}

let disconnectedTrampoline: natsConnectionHandler = { nc, closure in
    // nats.c also reports a disconnect when we close on purpose: only a lost link is news.
    let status = nc.map { natsConnection_Status($0) } ?? NATS_CONN_STATUS_CLOSED
    if status == NATS_CONN_STATUS_RECONNECTING {
        events(closure)?.logger.warning("NATS disconnected; reconnecting")
    }
}

let reconnectedTrampoline: natsConnectionHandler = { _, closure in
    events(closure)?.reconnected()
}

let closedTrampoline: natsConnectionHandler = { _, closure in
    guard let closure else { return }
    // The last callback nats.c makes for a connection: drop the retain taken at connect.
    let events = Unmanaged<ConnectionEvents>.fromOpaque(closure).takeRetainedValue()
    events.logger.debug("NATS connection closed")
}

let errorTrampoline: natsErrHandler = { _, sub, status, closure in
    guard let events = events(closure) else { return }
    let subject = sub.flatMap { natsSubscription_GetSubject($0) }.map { String(cString: $0) } ?? "-"
    let text = natsStatus_GetText(status).map { String(cString: $0) } ?? "\(status)"
    if status == NATS_SLOW_CONSUMER {
        events.logger.warning("NATS slow consumer: nats.c dropped messages", metadata: ["subject": "\(subject)"])
    } else {
        events.logger.error("NATS async error", metadata: ["subject": "\(subject)", "error": "\(text)"])
    }
}
