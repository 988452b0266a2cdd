import BatonTestSupport
import HTTPTypes
import Hummingbird
import Synchronization

/// A real HTTP server on 127.0.0.1 (a free port) for the client tests, counting requests.
///
/// Routes: GET /hello → 200 "hello" with X-Twice twice; PUT and POST /echo → 200, the body back,
/// and what arrived in X-Method, X-User-Agent and X-Expect ("none" without one); GET /stream →
/// "one\n", "two\n", "three\n", 300 ms apart; GET /silent → "tick\n", then nothing for 10 s;
/// GET /big → a 1 MiB body; GET /slow → 200 after 30 s.
final class LocalServer: Sendable {
    private let server: LocalHTTPServer
    private let counter: Counter

    var requests: Int { counter.count.load(ordering: .relaxed) }

    var port: Int { server.port }

    func url(_ path: String) -> String { server.url(path) }

    private init(server: LocalHTTPServer, counter: Counter) {
        self.server = server
        self.counter = counter
    }

    static func start() async throws -> LocalServer {
        let counter = Counter()
        let router = Router()
        router.middlewares.add(counter)
        router.get("/hello") { _, _ in
            var headers = HTTPFields()
            headers.append(HTTPField(name: HTTPField.Name("X-Twice")!, value: "a"))
            headers.append(HTTPField(name: HTTPField.Name("X-Twice")!, value: "b"))
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "hello")))
        }
        let echo: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            let headers: HTTPFields = [
                HTTPField.Name("X-Method")!: request.method.rawValue,
                HTTPField.Name("X-User-Agent")!: request.headers[.userAgent] ?? "none",
                HTTPField.Name("X-Expect")!: request.headers[.expect] ?? "none",
            ]
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: body))
        }
        router.put("/echo", use: echo)
        router.post("/echo", use: echo)
        router.get("/stream") { _, _ in
            Response(status: .ok, body: ResponseBody { writer in
                for (index, line) in ["one\n", "two\n", "three\n"].enumerated() {
                    if index > 0 { try await Task.sleep(for: .milliseconds(300)) }
                    try await writer.write(ByteBuffer(string: line))
                }
                try await writer.finish(nil)
            })
        }
        router.get("/silent") { _, _ in
            Response(status: .ok, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "tick\n"))
                try await Task.sleep(for: .seconds(10))
                try await writer.finish(nil)
            })
        }
        router.get("/big") { _, _ in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(repeating: 0x61, count: 1 << 20)))
        }
        router.get("/slow") { _, _ in
            try await Task.sleep(for: .seconds(30))
            return Response(status: .ok)
        }
        return LocalServer(server: try await LocalHTTPServer.start(router, label: "test.server"), counter: counter)
    }

    func stop() async { await server.stop() }

    /// Counts every request that reaches the router.
    final class Counter: RouterMiddleware, Sendable {
        let count = Atomic<Int>(0)

        func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
            count.add(1, ordering: .relaxed)
            return try await next(request, context)
        }
    }
}

/// Runs `body` with a started server, stopping it afterwards.
func withServer<T>(_ body: (LocalServer) async throws -> T) async throws -> T {
    let server = try await LocalServer.start()
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
