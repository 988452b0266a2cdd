import BatonCore
import BatonNATS
import BatonObservability
import BatonStore
import BatonWebhooks
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import ServiceLifecycle
import Synchronization

/// A gateway node: the HTTP API in front of NATS. Stateless: every job's state lives in NATS,
/// so any node can answer for any job. Its webhooks are delivered by a service next to it
/// (`Gateway.services`).
public struct Gateway: Service {
    public let connection: NATSConnection
    public let configuration: GatewayConfiguration
    public let logger: Logger
    /// Called with the bound port once the server listens (useful with port 0).
    public let onServerRunning: @Sendable (Int) async -> Void
    /// Fast-lane answers to record after their clients got a `202`.
    private let background = BackgroundWork()

    public init(
        connection: NATSConnection, configuration: GatewayConfiguration, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.connection = connection
        self.configuration = configuration
        self.logger = logger
        self.onServerRunning = onServerRunning
    }

    /// Serves until graceful shutdown (SIGTERM/SIGINT through the service group). Then it
    /// drains: `/readyz` answers 503, every client still waiting for an answer gets its `202`
    /// with `Location` at once, Hummingbird stops accepting and finishes the requests in flight,
    /// and the gateway waits up to `shutdownGrace` for fast-lane answers it still has to record.
    public func run() async throws {
        let jetStream = try JetStream(connection)
        await connection.logServerVersion()
        let jobsStream = try await configuration.layout.ensure(jetStream)
        let admission = configuration.layout.admission(for: jobsStream, jetStream: jetStream)
        if admission.checksDepth {
            logger.notice(
                "--max-queued is lower than the jobs stream's bound, which Baton never lowers (that deletes queued jobs): this gateway checks queue depths itself",
                metadata: ["max_queued": "\(admission.bound)", "stream_bound": "\(admission.streamBound)"])
        }
        let connection = self.connection
        let logger = self.logger
        try await withGracefulShutdownHandler {
            try await serve(jetStream: jetStream, admission: admission)
        } onGracefulShutdown: {
            logger.info("draining: clients waiting for an answer get their 202 now")
            connection.interruptWaits()
        }
        await background.waitUntilIdle(timeout: configuration.shutdownGrace)
    }

    private func serve(jetStream: JetStream, admission: QueueAdmission) async throws {
        try await buildApplication(jetStream: jetStream, admission: admission).run()
    }

    /// The largest body that fits in one NATS message next to Baton's headers.
    var effectiveMaxBody: Int {
        let fits = connection.maxPayload - 4096
        if fits < configuration.maxBody {
            logger.warning("max body lowered to fit the NATS max payload", metadata: ["max_body": "\(fits)", "max_payload": "\(connection.maxPayload)"])
            return fits
        }
        return configuration.maxBody
    }

    /// The HTTP API: the middleware and every route (OpenAPITests checks `routes` against
    /// `OpenAPI/openapi.json`).
    func buildRouter(jetStream: JetStream, admission: QueueAdmission = .streamEnforced) -> Router<BasicRequestContext> {
        let store = JobStore(jetStream: jetStream)
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        if let keys = configuration.apiKeys { router.add(middleware: AuthMiddleware(keys: keys)) }
        let jobs = JobsController(
            dispatcher: JobDispatcher(
                connection: connection, jetStream: jetStream, store: store, admission: admission, configuration: configuration,
                logger: logger, background: background),
            store: store,
            watcher: JobWatcher(connection: connection, store: store),
            events: JobEvents(connection: connection, store: store, heartbeat: configuration.sseHeartbeat),
            idempotency: IdempotencyKeys(jetStream: jetStream),
            registry: ServiceRegistry(jetStream: jetStream),
            configuration: configuration,
            maxBody: effectiveMaxBody
        )
        jobs.addRoutes(to: router)
        DeadLettersController(jetStream: jetStream).addRoutes(to: router)
        OpenAPIController().addRoutes(to: router)
        if let metrics = configuration.metrics {
            let connection = self.connection
            let reported = Mutex(0)
            MetricsEndpoint(registry: metrics.registry) {
                let now = connection.reconnects
                let delta = reported.withLock { last in
                    defer { last = now }
                    return now - last
                }
                if delta > 0 { GatewayMetrics.reconnects.increment(by: Int64(delta)) }
                await metrics.beforeScrape()
            }.addRoutes(to: router)
        }
        ServicesController(connection: connection, jetStream: jetStream).addRoutes(to: router)
        HealthController(connection: connection, jetStream: jetStream).addRoutes(to: router)
        return router
    }

    /// Connections the kernel queues until the gateway accepts them (capped by
    /// `net.core.somaxconn`). With Hummingbird's 256, 10,000 clients connecting at once overflowed
    /// it ~40,000 times: the dropped handshakes came back after SYN retransmits (1 s, 3 s, …), and
    /// ~1,500 of 10,000 held calls were not answered within 12 s (bench phase W); with 4096, all were.
    static let acceptBacklog = 4096

    func buildApplication(jetStream: JetStream, admission: QueueAdmission) -> some ApplicationProtocol {
        let router = buildRouter(jetStream: jetStream, admission: admission)
        let onServerRunning = self.onServerRunning
        let logger = self.logger
        return Application(
            router: router,
            server: HeldCallHTTP1Channel.builder(),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "baton", backlog: Self.acceptBacklog),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("gateway listening", metadata: ["port": "\(port)"])
                await onServerRunning(port)
            },
            logger: logger
        )
    }
}

/// `GET /healthz` (the process is up) and `GET /readyz` (NATS connected, streams and buckets present).
struct HealthController: Sendable {
    let connection: NATSConnection
    let jetStream: JetStream

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(.ok, ByteBuffer(string: #"{"status":"ok"}"#))
        }
        router.get("/readyz") { _, _ in
            guard !connection.waitsInterrupted else {
                return Response.problem(.unavailable("This gateway is shutting down."), headers: [.retryAfter: "1"])
            }
            guard connection.isConnected else {
                return Response.problem(.unavailable("Not connected to NATS."), headers: [.retryAfter: "1"])
            }
            guard await Layout.isPresent(jetStream) else {
                return Response.problem(.unavailable("JetStream streams or buckets are missing."), headers: [.retryAfter: "1"])
            }
            return Response.json(.ok, ByteBuffer(string: #"{"status":"ready","nats":"connected","streams":"present"}"#))
        }
    }
}

/// Hummingbird's HTTP/1 channel, set up for connections that mostly wait: a held sync call keeps
/// its connection's buffers for as long as the worker takes.
///
/// - The receive buffer starts at 512 bytes rather than NIO's 2 KiB (it grows after a read that
///   fills it): each connection keeps one, and a request head is usually smaller.
/// - A small request body is copied out of the receive buffer it arrived in (`CompactBodyParts`):
///   a body slice would otherwise keep that whole buffer alive for the call, and the connection's
///   next read would have to allocate a second one.
struct HeldCallHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    static let receiveBuffer = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    static func builder() -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            HeldCallHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [CompactBodyParts()])))
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffer)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Copies a request body part that uses a small share of its receive buffer into a buffer of
/// its own, so that the receive buffer can be reused instead of living as long as the request.
final class CompactBodyParts: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .body(let part) = unwrapInboundIn(data), part.readableBytes * 2 <= part.storageCapacity else {
            context.fireChannelRead(data)
            return
        }
        var copy = context.channel.allocator.buffer(capacity: part.readableBytes)
        copy.writeImmutableBuffer(part)
        context.fireChannelRead(wrapInboundOut(.body(copy)))
    }
}
