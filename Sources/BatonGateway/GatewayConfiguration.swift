import BatonStore

/// How a gateway serves HTTP.
public struct GatewayConfiguration: Sendable {
    public var host: String = "0.0.0.0"
    public var port: Int = 8080
    /// How long a `POST` waits for the answer when the client did not say (`Prefer: wait`).
    public var defaultWait: Duration = .seconds(10)
    /// The longest wait a client may ask for.
    public var maxWait: Duration = .seconds(60)
    /// The largest request body; lowered at start to fit the NATS server's max payload.
    public var maxBody: Int = 1 << 20
    /// How long a gateway keeps waiting for a fast-lane answer after it answered `202`.
    public var fastLaneTimeout: Duration = .seconds(60)
    /// The `Retry-After` (seconds) of a `202` or a status of a running job.
    public var retryAfter: Int = 1
    /// Streams and buckets this gateway creates if missing.
    public var layout = Layout()

    public init() {}
}
