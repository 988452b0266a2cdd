import Foundation

/// How to connect to NATS.
public struct NATSConfiguration: Sendable {
    /// Server URLs (`nats://host:port`); the client reconnects across all of them.
    public var servers: [String]
    /// Client name shown by the server (`nats server report connections`, monitoring).
    public var name: String
    /// Flush each publish at once instead of letting nats.c's flusher batch them (saves ~1 ms
    /// per request-reply; see FACTS.md).
    public var sendAsap: Bool = true
    /// Deliver replies (requests, JetStream publishes, KV, pulls) on nats.c's reading thread
    /// instead of handing each to a subscription's delivery thread first (`ReaderDelivery`).
    /// `BATON_NATS_READER_DELIVERY=0` turns it off (to compare).
    public var readerDelivery: Bool = ProcessInfo.processInfo.environment["BATON_NATS_READER_DELIVERY"] != "0"
    /// First reconnect delay; doubles per attempt up to `maxReconnectDelay`, with jitter.
    public var reconnectDelay: Duration = .milliseconds(100)
    public var maxReconnectDelay: Duration = .seconds(5)
    /// How long the first connect keeps retrying before it fails.
    public var connectTimeout: Duration = .seconds(10)
    /// Messages a subscription buffers for a slow reader before it drops and reports.
    public var subscriptionBufferLimit: Int = 65_536
    /// TLS and credentials (none by default).
    public var security = NATSSecurity()
    /// Threads for the few nats.c calls that block (connect, flush, JetStream admin).
    public var blockingThreads: Int = 2

    public init(servers: [String], name: String) {
        self.servers = servers
        self.name = name
    }

    /// Parses a comma-separated server list (`nats://a:4222,nats://b:4222`).
    public init(urls: String, name: String) {
        self.init(
            servers: urls.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
            name: name
        )
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }

    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
