import BatonTestSupport
import Hummingbird
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

    private let server: LocalHTTPServer
    private let recorder: Recorder

    private init(server: LocalHTTPServer, recorder: Recorder) {
        self.server = server
        self.recorder = recorder
    }

    var received: [Received] { recorder.log.withLock { $0 } }

    var port: Int { server.port }

    func url(_ path: String) -> String { server.url(path) }

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
        return TestServer(server: try await LocalHTTPServer.start(router, label: "test.server"), recorder: recorder)
    }

    func stop() async { await server.stop() }

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
