import BatonCore
import BatonNATS
import Logging
import NIOCore

/// Answers the NATS micro-service protocol (ADR-32) for every service a worker process offers,
/// so `nats micro ls/info/stats`, nats-py and the gateway's `GET /v1/services` discover it.
///
/// Each service is one micro-service instance (`MicroService`). Plain subscriptions (no queue
/// group, every instance answers): `$SRV.*` for the process (each instance replies), and per
/// service `$SRV.*.<name>` and `$SRV.*.<name>.<id>`; the verb token picks PING, INFO or STATS
/// (other verbs are ignored). Three subjects per verb and service would cost nine nats.c
/// delivery threads per service; the verb wildcard keeps it to two, plus one.
struct MicroResponder: Sendable {
    let connection: NATSConnection
    /// The instances, in the worker's service order.
    let services: [MicroService]
    let logger: Logger

    /// One instance per service, all with the same `started`.
    init(services: [ServiceDefinition], workerID: String, connection: NATSConnection, logger: Logger) {
        let started = Timestamp.now
        self.services = services.map { MicroService(service: $0, workerID: workerID, started: started) }
        self.connection = connection
        var logger = logger
        logger[metadataKey: "component"] = "micro"
        self.logger = logger
    }

    /// The counters of `service`'s endpoint (a detached counter if the worker does not offer it).
    func stats(for service: String) -> MicroEndpointStats {
        services.first { $0.name == service }?.stats ?? MicroEndpointStats()
    }

    /// Answers until the task is cancelled.
    func run() async throws {
        var interests: [(subject: String, targets: [MicroService])] = [("$SRV.*", services)]
        for service in services {
            interests.append(("$SRV.*.\(service.name)", [service]))
            interests.append(("$SRV.*.\(service.name).\(service.id)", [service]))
        }
        var subscribed: [(NATSSubscription, [MicroService])] = []
        do {
            for interest in interests {
                subscribed.append((try connection.subscribe(to: interest.subject, bufferLimit: 1024), interest.targets))
            }
        } catch {
            for (subscription, _) in subscribed { subscription.unsubscribe() }
            throw error
        }
        let subscriptions = subscribed
        logger.debug("micro responders subscribed", metadata: ["ids": "\(services.map { "\($0.name)=\($0.id)" })"])
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                for (subscription, targets) in subscriptions {
                    group.addTask {
                        for await request in subscription { answer(request, from: targets) }
                    }
                }
                await group.waitForAll()
            }
        } onCancel: {
            for (subscription, _) in subscriptions { subscription.unsubscribe() }
        }
    }

    /// Replies to `request` once per target instance.
    func answer(_ request: NATSMessage, from targets: [MicroService]) {
        guard let replyTo = request.replyTo, let verb = Self.verb(of: request.subject) else { return }
        for service in targets {
            do {
                try connection.publish(service.response(to: verb), to: replyTo)
            } catch {
                logger.warning("micro answer not sent", metadata: [
                    "subject": "\(request.subject)", "service": "\(service.name)", "error": "\(error)",
                ])
            }
        }
    }

    /// The verb of `$SRV.<VERB>[.<name>[.<id>]]`, or nil for another subject or verb.
    static func verb(of subject: String) -> MicroVerb? {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard tokens.count >= 2, tokens.count <= 4, tokens[0] == "$SRV" else { return nil }
        return MicroVerb(rawValue: String(tokens[1]))
    }
}
