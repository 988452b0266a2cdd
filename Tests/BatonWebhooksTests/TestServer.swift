import Hummingbird
import Logging
import Synchronization

/// A real HTTP server on 127.0.0.1 (a free port) for the client tests, recording every request.
///
/// Routes (POST): /ok → 200; /unavailable → 503 + Retry-After: 7; /throttled → 429 + Retry-After
/// as an HTTP date in the past; /slow → 200 after 30 s; /redirect → 302 to /ok; /big → 200 with a
/// 1 MiB body.
final class TestServer: Sendable {
    /// One request; header names are lowercase.
    struct Received: Sendable {
        var path: String
        var headers: [String: String]
        var body: [UInt8]
    }

    let port: Int
    private let task: Task<Void, any Error>
    private let recorder: Recorder

    private init(port: Int, task: Task<Void, any Error>, recorder: Recorder) {
        self.port = port
        self.task = task
        self.recorder = recorder
    }

    var received: [Received] { recorder.log.withLock { $0 } }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    static func start() async throws -> TestServer {
        let recorder = Recorder()
        let router = Router()
        router.post("/ok") { request, _ in
            try await recorder.record(request)
            return Response(status: .ok)
        }
        router.post("/unavailable") { request, _ in
            try await recorder.record(request)
            return Response(status: .serviceUnavailable, headers: [.retryAfter: "7"])
        }
        router.post("/throttled") { request, _ in
            try await recorder.record(request)
            return Response(status: .tooManyRequests, headers: [.retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"])
        }
        router.post("/slow") { request, _ in
            try await recorder.record(request)
            try await Task.sleep(for: .seconds(30))
            return Response(status: .ok)
        }
        router.post("/redirect") { request, _ in
            try await recorder.record(request)
            return Response(status: .found, headers: [.location: "/ok"])
        }
        router.post("/big") { request, _ in
            try await recorder.record(request)
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(repeating: 0x61, count: 1 << 20)))
        }
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical  // Cancelling the server logs errors.
        let (ports, portInput) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portInput.yield(channel.localAddress?.port ?? 0)
                portInput.finish()
            },
            logger: logger
        )
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw TestServerError()
        }
        return TestServer(port: port, task: task, recorder: recorder)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }

    struct TestServerError: Error {}

    final class Recorder: Sendable {
        let log = Mutex<[Received]>([])

        func record(_ request: Request) async throws {
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let received = Received(path: request.uri.path, headers: headers, body: Array(body.readableBytesView))
            log.withLock { $0.append(received) }
        }
    }
}

/// Runs `body` with a started server, stopping it afterwards.
func withServer<T>(_ body: (TestServer) async throws -> T) async throws -> T {
    let server = try await TestServer.start()
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
