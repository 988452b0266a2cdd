import ArgumentParser
import BatonNATS
import Hummingbird
import Logging

/// Baseline H: a bare Hummingbird server with the gateway's server configuration, answering a
/// fixed body, to measure what HTTP alone costs on this machine.
struct HelloCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hello", abstract: "Serve POST/GET /hello (baseline H), and the relays of phases R, RD and RA.")

    @Option var host = "127.0.0.1"
    @Option var port = 8090
    @Option(name: .customLong("nats-url"), help: "Also serve POST /relay/<subject> (the body as a NATS request, the reply's payload as the answer) and POST /relay-jobs/<name> (the body as a JetStream job for js-worker).")
    var natsURL: String?

    func run() async throws {
        let logger = benchLogger("bench.hello")
        let router = Router()
        router.get("/hello") { _, _ in "hello" }
        router.post("/hello") { request, _ -> Response in
            // Same work shape as echo: collect the body, send it back.
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: body))
        }
        if let natsURL {
            // Phase R of `make bench`: HTTP in, one NATS request-reply, HTTP out, and nothing
            // else — what the fast lane would cost with no gateway logic at all.
            let connection = try await benchConnection(natsURL, name: "bench-relay", logger: logger)
            router.post("/relay/:subject") { request, context -> Response in
                var request = request
                let body = try await request.collectBody(upTo: 1 << 20)
                let reply = try await connection.request(body, to: try context.parameters.require("subject"), timeout: .seconds(5))
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: reply.payload))
            }
            // Phase RD: HTTP in, one job through JetStream to `baton-bench js-worker`, HTTP out
            // (`JetStreamPipeline`) — what the durable lane would cost with no Baton logic.
            let jetStream = try JetStream(connection)
            _ = try await JetStreamPipeline.ensure(jetStream)
            router.post("/relay-jobs/:name") { request, context -> Response in
                var request = request
                let body = try await request.collectBody(upTo: 1 << 20)
                let answer = try await JetStreamPipeline.submit(body, name: try context.parameters.require("name"), jetStream: jetStream)
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: answer))
            }
            // Phase RA: a `respond-async` accept with nothing of Baton's in it: the job
            // published, its record created, `202` (`JetStreamPipeline.accept`).
            let records = try await JetStreamPipeline.ensureAccepts(jetStream)
            router.post("/relay-accept/:name") { request, context -> Response in
                var request = request
                let body = try await request.collectBody(upTo: 1 << 20)
                let record = try await JetStreamPipeline.accept(
                    body, name: try context.parameters.require("name"), jetStream: jetStream, records: records)
                return Response(status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: record))
            }
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "baton"), logger: logger)
        try await app.runService()
    }
}
