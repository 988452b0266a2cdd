import BatonCore
import Hummingbird
import NIOCore

/// `GET /healthz` (the process is up) and `GET /readyz` (NATS connected, streams and buckets
/// present, not draining: `NATSReadiness`).
struct HealthController<Health: Readiness>: Sendable {
    let readiness: Health

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(.ok, ByteBuffer(string: #"{"status":"ok"}"#))
        }
        router.get("/readyz") { _, _ in
            if let problem = await readiness.unready() { return Response.problem(problem) }
            return Response.json(.ok, ByteBuffer(string: #"{"status":"ready","nats":"connected","streams":"present"}"#))
        }
    }
}
