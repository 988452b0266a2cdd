import ArgumentParser
import Hummingbird
import Logging

/// Baseline H: a bare Hummingbird server with the gateway's server configuration, answering a
/// fixed body, to measure what HTTP alone costs on this machine.
struct HelloCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hello", abstract: "Serve POST/GET /hello (baseline H).")

    @Option var host = "127.0.0.1"
    @Option var port = 8090

    func run() async throws {
        var logger = Logger(label: "bench.hello")
        logger.logLevel = .warning
        let router = Router()
        router.get("/hello") { _, _ in "hello" }
        router.post("/hello") { request, _ -> Response in
            // Same work shape as echo: collect the body, send it back.
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: body))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "baton"), logger: logger)
        try await app.runService()
    }
}
