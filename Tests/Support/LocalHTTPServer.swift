import Hummingbird
import Logging

/// A Hummingbird application on 127.0.0.1 and a free port: the real HTTP peer of the tests that
/// need one (libcurl's client, webhook receivers, an OpenTelemetry collector). `start` returns
/// once it listens, or throws if it could not; `stop` ends it.
public struct LocalHTTPServer: Sendable {
    public let port: Int
    private let task: Task<Void, any Error>

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    /// "http://127.0.0.1:<port><path>".
    public func url(_ path: String = "") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Serves `router`; `label` names its logger and the error if it does not start.
    public static func start(_ router: Router<BasicRequestContext>, label: String) async throws -> LocalHTTPServer {
        var logger = Logger(label: label)
        logger.logLevel = .critical  // Cancelling the server logs errors.
        let (ports, portInput) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portInput.yield(channel.localAddress?.port ?? 0)
                portInput.finish()
            },
            logger: logger)
        // An application that fails before it listens ends the stream too: no wait forever.
        let task = Task {
            defer { portInput.finish() }
            try await app.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw StartError(label: label, reason: await task.result)
        }
        return LocalHTTPServer(port: port, task: task)
    }

    public func stop() async {
        task.cancel()
        _ = await task.result
    }

    public struct StartError: Error, CustomStringConvertible {
        public let label: String
        let reason: Result<Void, any Error>

        public var description: String {
            switch reason {
            case .success: "\(label): the HTTP server ended before it listened"
            case .failure(let error): "\(label): the HTTP server did not start: \(error)"
            }
        }
    }
}
