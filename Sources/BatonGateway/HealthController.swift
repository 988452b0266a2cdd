import BatonCore
import BatonNATS
import BatonStore
import Hummingbird
import NIOCore

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
                return Response.problem(.unavailable("This gateway is shutting down."))
            }
            guard connection.isConnected else {
                return Response.problem(.unavailable("Not connected to NATS."))
            }
            guard await Layout.isPresent(jetStream) else {
                return Response.problem(.unavailable("JetStream streams or buckets are missing."))
            }
            return Response.json(.ok, ByteBuffer(string: #"{"status":"ready","nats":"connected","streams":"present"}"#))
        }
    }
}
