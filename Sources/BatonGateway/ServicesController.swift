import BatonCore
import BatonNATS
import BatonStore
import Hummingbird
import NIOCore

/// `GET /v1/services`: the live service catalogue.
///
/// Registered services come from KV `baton-services` (listed even with no live instance),
/// merged with what the running workers say over the NATS micro-service protocol: `$SRV.INFO`
/// and `$SRV.STATS` replies gathered for `gatherTimeout` (each worker process is one instance
/// per service, metadata `baton: "1"`), and, for durable services, the state of the shared
/// consumers `baton-<service>-<priority>` on `BATON_JOBS` (`ServiceCatalogue`, through
/// `NATSServiceDirectory`). The answer is cached for `cacheTTL` per gateway.
///
/// Throughput and error rates are left to the client: the answer carries cumulative counters
/// (per instance, and summed per service) and `readAt`, the time they were gathered, so a
/// client computes a rate between two answers. The gateway keeps no window of its own: it
/// stays stateless (any gateway answers, each with its own cache), and every client gets
/// rates over its own interval.
struct ServicesController<Services: ServiceDirectory>: Sendable {
    let services: Services

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/services", use: list)
    }

    @Sendable func list(_: Request, context _: BasicRequestContext) async throws -> Response {
        do {
            return .json(.ok, try await services.catalogue())
        } catch {
            throw Problem.unavailable("The service catalogue is unavailable (NATS): \(error)")
        }
    }
}

/// The catalogue, rebuilt at most once per `cacheTTL`: callers that come while a refresh runs
/// wait for that one refresh instead of starting their own.
actor ServiceCatalogue {
    private let connection: NATSConnection
    private let jetStream: JetStream
    private let registry: ServiceRegistry
    private let cacheTTL: Duration
    private let gatherTimeout: Duration
    private var cached: (body: ByteBuffer, until: ContinuousClock.Instant)?
    private var refreshing: Task<ByteBuffer, any Error>?

    init(connection: NATSConnection, jetStream: JetStream, registry: ServiceRegistry, cacheTTL: Duration, gatherTimeout: Duration) {
        self.connection = connection
        self.jetStream = jetStream
        self.registry = registry
        self.cacheTTL = cacheTTL
        self.gatherTimeout = gatherTimeout
    }

    /// The catalogue JSON, from the cache or from one shared refresh.
    func current() async throws -> ByteBuffer {
        if let cached, cached.until > .now { return cached.body }
        if let refreshing { return try await refreshing.value }
        let task = Task { try await self.build() }
        refreshing = task
        do {
            let body = try await task.value
            cached = (body, ContinuousClock.now.advanced(by: cacheTTL))
            refreshing = nil
            return body
        } catch {
            refreshing = nil
            throw error
        }
    }

    /// Reads the registry, gathers the instances and the queues, and encodes the answer.
    nonisolated func build() async throws -> ByteBuffer {
        // Taken as the requests go out: the replies come within milliseconds (the gather waits
        // for stragglers), and a constant offset cancels out between two answers anyway.
        let readAt = Timestamp.now
        async let registered = registry.all()
        async let infos = connection.requestMany(ByteBuffer(), to: "$SRV.INFO", timeout: gatherTimeout)
        async let stats = connection.requestMany(ByteBuffer(), to: "$SRV.STATS", timeout: gatherTimeout)
        var services = try await Self.merge(registered: registered, infos: infos, stats: stats)
        let jetStream = self.jetStream
        let queues = await withTaskGroup(of: (String, CatalogueQueue?).self) { group in
            for service in services where service.lane == .durable {
                let name = service.name
                group.addTask { (name, await Self.queue(of: name, jetStream: jetStream)) }
            }
            var queues: [String: CatalogueQueue] = [:]
            for await (name, queue) in group { queues[name] = queue }
            return queues
        }
        for index in services.indices { services[index].queue = queues[services[index].name] }
        return try JSON.encode(CatalogueBody(services: services, readAt: readAt))
    }

    /// The jobs of a durable service in JetStream: each per-priority consumer
    /// (`baton-<service>-high|normal|low`) and their sum, which also counts the single
    /// pre-priority consumer `baton-<service>` should it still exist; nil when none exists.
    static func queue(of service: String, jetStream: JetStream) async -> CatalogueQueue? {
        let consumers: [(Priority?, String)] =
            Priority.allCases.map { ($0, Streams.consumer(service: service, priority: $0)) } + [(nil, Streams.consumer(service: service))]
        var total: CatalogueQueue? = nil
        for (priority, name) in consumers {
            guard let state = try? await jetStream.consumerInfo(stream: Streams.jobs, consumer: name) else { continue }
            let depth = CatalogueQueue.Depth(pending: state.numPending, ackPending: state.numAckPending, redelivered: state.numRedelivered)
            var queue = total ?? CatalogueQueue()
            queue.add(depth)
            if let priority { queue.priorities[priority.rawValue] = depth }
            total = queue
        }
        return total
    }

    /// Registered services plus those only seen live, each with its live Baton instances.
    static func merge(registered: [ServiceRegistration], infos: [NATSMessage], stats: [NATSMessage]) -> [CatalogueService] {
        let decodedInfos = infos.compactMap { try? JSON.decode(MicroReply.self, from: $0.payload) }
            .filter { $0.type == "io.nats.micro.v1.info_response" && $0.metadata?["baton"] == "1" }
        let decodedStats = stats.compactMap { try? JSON.decode(MicroReply.self, from: $0.payload) }
            .filter { $0.type == "io.nats.micro.v1.stats_response" && $0.metadata?["baton"] == "1" }

        var services: [String: CatalogueService] = [:]
        for registration in registered {
            services[registration.name] = CatalogueService(
                name: registration.name, lane: registration.lane, version: registration.version,
                description: registration.description, instances: [], registeredAt: registration.updatedAt)
        }
        // Instances by id: STATS carries the counters, INFO the description; either alone will do.
        var instances: [String: (reply: MicroReply, counters: MicroReply?)] = [:]
        for info in decodedInfos { instances[info.id] = (info, instances[info.id]?.counters) }
        for stat in decodedStats { instances[stat.id] = (instances[stat.id]?.reply ?? stat, stat) }

        for (id, instance) in instances {
            let reply = instance.reply
            if services[reply.name] == nil {
                guard let lane = reply.metadata?["lane"].flatMap(Lane.init(rawValue:)) else { continue }
                services[reply.name] = CatalogueService(
                    name: reply.name, lane: lane, version: reply.version ?? "",
                    description: reply.description ?? "", instances: [], registeredAt: nil)
            }
            let endpoints = instance.counters?.endpoints ?? []
            let counters = CatalogueCounters(
                numRequests: endpoints.reduce(Int64(0)) { $0 &+ ($1.numRequests ?? 0) },
                numErrors: endpoints.reduce(Int64(0)) { $0 &+ ($1.numErrors ?? 0) },
                processingTimeNanoseconds: endpoints.reduce(Int64(0)) { $0 &+ ($1.processingTime ?? 0) })
            services[reply.name]?.instances.append(CatalogueInstance(
                id: id, worker: reply.metadata?["worker"] ?? "", version: reply.version ?? "",
                started: instance.counters?.started, numRequests: counters.numRequests, numErrors: counters.numErrors,
                averageProcessingTimeNanoseconds: counters.numRequests > 0 ? counters.processingTimeNanoseconds / counters.numRequests : 0))
            services[reply.name]?.stats.add(counters)
        }
        return services.values
            .map { service in
                var service = service
                service.instances.sort { ($0.worker, $0.id) < ($1.worker, $1.id) }
                return service
            }
            .sorted { $0.name < $1.name }
    }
}

/// `{"services": [...], "readAt": "…"}`.
struct CatalogueBody: Encodable {
    var services: [CatalogueService]
    /// When the counters and queues were gathered (not when the cached answer is served): the
    /// time base for rates between two answers.
    var readAt: Timestamp
}

/// One service in the catalogue. `queue` only for durable services whose consumer exists;
/// `registeredAt` only for registered ones.
struct CatalogueService: Encodable {
    var name: String
    var lane: Lane
    var version: String
    var description: String
    var instances: [CatalogueInstance]
    /// The counters of `instances`, added up (zero when none runs).
    var stats = CatalogueCounters()
    var queue: CatalogueQueue?
    var registeredAt: Timestamp?
}

/// Handler runs (`$SRV.STATS`: one per attempt, failed ones counted in `numErrors`), cumulative
/// since each instance started. A sum over instances drops when an instance goes away.
struct CatalogueCounters: Encodable {
    var numRequests: Int64 = 0
    var numErrors: Int64 = 0
    var processingTimeNanoseconds: Int64 = 0

    mutating func add(_ other: CatalogueCounters) {
        numRequests &+= other.numRequests
        numErrors &+= other.numErrors
        processingTimeNanoseconds &+= other.processingTimeNanoseconds
    }

    enum CodingKeys: String, CodingKey {
        case numRequests = "num_requests"
        case numErrors = "num_errors"
        case processingTimeNanoseconds = "processing_time_ns"
    }
}

/// One worker process offering the service, as its micro-service instance reports it.
struct CatalogueInstance: Encodable {
    var id: String
    var worker: String
    var version: String
    var started: String?
    var numRequests: Int64
    var numErrors: Int64
    var averageProcessingTimeNanoseconds: Int64

    enum CodingKeys: String, CodingKey {
        case id, worker, version, started
        case numRequests = "num_requests"
        case numErrors = "num_errors"
        case averageProcessingTimeNanoseconds = "average_processing_time_ns"
    }
}

/// The shared durable consumers of a service, added up — jobs waiting, in flight, redelivered —
/// and each priority's consumer on its own (keyed by priority name).
struct CatalogueQueue: Encodable {
    var pending: UInt64 = 0
    var ackPending: Int64 = 0
    var redelivered: Int64 = 0
    var priorities: [String: Depth] = [:]

    /// One consumer's state.
    struct Depth: Encodable {
        var pending: UInt64
        var ackPending: Int64
        var redelivered: Int64

        enum CodingKeys: String, CodingKey {
            case pending
            case ackPending = "ack_pending"
            case redelivered
        }
    }

    mutating func add(_ depth: Depth) {
        pending &+= depth.pending
        ackPending &+= depth.ackPending
        redelivered &+= depth.redelivered
    }

    enum CodingKeys: String, CodingKey {
        case pending
        case ackPending = "ack_pending"
        case redelivered, priorities
    }
}

/// The fields of `$SRV.INFO` / `$SRV.STATS` replies the catalogue reads (others ignored).
struct MicroReply: Decodable {
    var type: String
    var name: String
    var id: String
    var version: String?
    var description: String?
    var metadata: [String: String]?
    var started: String?
    var endpoints: [Endpoint]?

    struct Endpoint: Decodable {
        var numRequests: Int64?
        var numErrors: Int64?
        var processingTime: Int64?

        enum CodingKeys: String, CodingKey {
            case numRequests = "num_requests"
            case numErrors = "num_errors"
            case processingTime = "processing_time"
        }
    }
}
