import BatonNATS
import BatonStore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// A gateway node: the HTTP API in front of NATS. Stateless: every job's state lives in NATS,
/// so any node can answer for any job. Its webhooks are delivered by a service next to it
/// (`Gateway.services`), and so are its operator endpoints when they have a port of their own
/// (`AdminServer`).
public struct Gateway: Service {
    public let connection: NATSConnection
    public let configuration: GatewayConfiguration
    public let logger: Logger
    /// Called with the bound port once the server listens (useful with port 0).
    public let onServerRunning: @Sendable (Int) async -> Void
    /// Fast-lane answers to record after their clients got a `202`.
    let background = BackgroundWork()

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

    /// Connections the kernel queues until the gateway accepts them (capped by
    /// `net.core.somaxconn`). With Hummingbird's 256, 10,000 clients connecting at once overflowed
    /// it ~40,000 times: the dropped handshakes came back after SYN retransmits (1 s, 3 s, …), and
    /// ~1,500 of 10,000 held calls were not answered within 12 s (bench phase W); with 4096, all were.
    static let acceptBacklog = 4096

    /// The public HTTP(S) server.
    func buildApplication(jetStream: JetStream, admission: QueueAdmission) throws -> some ApplicationProtocol {
        let router = buildRouter(jetStream: jetStream, admission: admission)
        let onServerRunning = self.onServerRunning
        let logger = self.logger
        let scheme = configuration.tls == nil ? "http" : "https"
        return Application(
            router: router,
            server: try configuration.tls.map { try HTTPServerBuilder.tls(HeldCallHTTP1Channel.builder(), tlsConfiguration: $0.configuration) }
                ?? HeldCallHTTP1Channel.builder(),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "baton", backlog: Self.acceptBacklog),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("gateway listening", metadata: ["port": "\(port)", "scheme": "\(scheme)"])
                await onServerRunning(port)
            },
            logger: logger
        )
    }
}
