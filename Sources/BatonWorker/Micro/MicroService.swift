import BatonCore
import NIOCore

/// The verbs of the NATS micro-service protocol (`$SRV.<VERB>…`).
enum MicroVerb: String, Sendable, CaseIterable {
    case ping = "PING"
    case info = "INFO"
    case stats = "STATS"
}

/// One NATS micro-service instance: what a worker process says about one Baton service it
/// offers, under a fresh id per process and service.
///
/// - name: the Baton service name; version: `ServiceDefinition.version`;
/// - metadata: `lane` (`fast` | `durable`), `worker` (the worker id), `baton` (`"1"`);
/// - one endpoint, named like the service: fast lane `baton.svc.<service>` in queue group
///   `baton.<service>`; durable lane `baton.jobs.<service>.>` with the durable consumer
///   `baton-<service>` as its queue group (the workers that share the work).
struct MicroService: Sendable {
    let name: String
    let id: String
    let version: String
    let description: String
    let metadata: [String: String]
    let endpoint: MicroEndpointInfo
    let started: Timestamp
    let stats: MicroEndpointStats
    private let ping: ByteBuffer
    private let info: ByteBuffer

    init(service: ServiceDefinition, workerID: String, started: Timestamp = .now) {
        name = service.name
        id = MicroID.make()
        version = service.version
        description = service.description
        metadata = ["lane": service.lane.rawValue, "worker": workerID, "baton": "1"]
        switch service.lane {
        case .fast:
            endpoint = MicroEndpointInfo(
                name: service.name, subject: Subjects.fast(service: service.name),
                queueGroup: Subjects.queueGroup(service: service.name), metadata: ["lane": service.lane.rawValue])
        case .durable:
            endpoint = MicroEndpointInfo(
                name: service.name, subject: Subjects.jobs(service: service.name),
                queueGroup: Streams.consumer(service: service.name), metadata: ["lane": service.lane.rawValue])
        }
        self.started = started
        stats = MicroEndpointStats()
        // Identity and endpoints never change: encode PING and INFO once.
        ping = (try? JSON.encode(MicroPingResponse(name: name, id: id, version: version, metadata: metadata))) ?? ByteBuffer()
        info = (try? JSON.encode(MicroInfoResponse(
            name: name, id: id, version: version, description: description, metadata: metadata, endpoints: [endpoint]))) ?? ByteBuffer()
    }

    /// The JSON answer to `verb`.
    func response(to verb: MicroVerb) throws -> ByteBuffer {
        switch verb {
        case .ping: return ping
        case .info: return info
        case .stats: return try JSON.encode(statsResponse())
        }
    }

    func statsResponse() -> MicroStatsResponse {
        let counters = stats.snapshot
        return MicroStatsResponse(
            name: name, id: id, version: version, metadata: metadata, started: started.description,
            endpoints: [MicroEndpointStatsResponse(
                name: endpoint.name, subject: endpoint.subject, queueGroup: endpoint.queueGroup,
                numRequests: counters.requests, numErrors: counters.errors, lastError: counters.lastError,
                processingTime: counters.processingNanoseconds, averageProcessingTime: counters.averageNanoseconds)])
    }
}

/// NUID-like instance ids: 22 random characters of `[0-9A-Za-z]` (~131 bits).
enum MicroID {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<22).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return String(decoding: bytes, as: UTF8.self)
    }
}
