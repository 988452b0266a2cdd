import BatonHTTPServer
import BatonObservability
import BatonStore
import BatonWebhooks

/// How a gateway serves HTTP.
public struct GatewayConfiguration: Sendable {
    public var host: String = "0.0.0.0"
    public var port: Int = 8080
    /// HTTPS on `port` when set; plain HTTP otherwise.
    public var tls: GatewayTLS?
    /// When set, `/metrics`, `/healthz` and `/readyz` are served here (plain HTTP) and only
    /// here: the public port answers them `404`, so it can be opened to clients and closed to
    /// scrapers and probes.
    public var admin: AdminListener?
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
    /// The deadline of a job when the client sets none (`Baton-Deadline`); nil: none.
    public var jobTTL: Duration? = nil
    /// How often an idle server-sent-event stream gets a heartbeat comment.
    public var sseHeartbeat: Duration = .seconds(15)
    /// When set, `/v1/` requests need `Authorization: Bearer <key>`, jobs belong to their key,
    /// and each key has its rate limit.
    public var apiKeys: APIKeys?
    /// Records the spans of jobs (`gateway request`, `webhook attempt`) when set: tracing is
    /// on (`--otel-endpoint`). Off, requests only pass the trace context on.
    public var tracer: JobTracer?
    /// Serves `GET /metrics` when set (the process bootstraps swift-metrics with its registry).
    public var metrics: MetricsEndpoint?
    /// Webhook delivery (every gateway takes part unless `enabled` is false).
    public var webhooks = WebhookConfiguration()
    /// The `Retry-After` (seconds) of a `503` for a full queue.
    public var queueFullRetryAfter: Int = 5
    /// How long a stopping gateway waits for fast-lane answers it still has to record.
    public var shutdownGrace: Duration = .seconds(10)
    /// Streams and buckets this gateway creates if missing.
    public var layout = Layout()

    public init() {}
}

/// Where a gateway serves its operator endpoints (`--admin-host`, `--admin-port`).
public struct AdminListener: Sendable {
    public var host: String
    /// 0: any free port (the tests).
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// How a gateway delivers webhooks.
public struct WebhookConfiguration: Sendable {
    /// Deliver webhooks from this gateway (all gateways share the work).
    public var enabled = true
    /// The signing secret (`whsec_…`); deliveries are refused at submit time when unset.
    public var secret: WebhookSecret?
    /// Targets allowed although private (CIDRs or host names).
    public var policy = try! WebhookPolicy(allow: [])  // an empty allow list cannot be invalid
    public var schedule: RetrySchedule = .standard
    public var connectTimeout: Duration = .seconds(5)
    public var timeout: Duration = .seconds(15)
    /// Deliveries in flight at once, per gateway.
    public var concurrency = 16
    /// A delivery not acknowledged for this long (its gateway died) goes to another gateway.
    public var ackWait: Duration? = nil

    public init() {}

    var effectiveAckWait: Duration { ackWait ?? (timeout + .seconds(15)) }
}
