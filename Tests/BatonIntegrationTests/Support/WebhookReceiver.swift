import BatonTestSupport
import BatonWebhooks
import Foundation
import Hummingbird
import Synchronization

/// A webhook receiver on 127.0.0.1 (a free port) for the tests: records every request to
/// `/hook` (including the ones it fails or hangs), checks its Standard Webhooks signature, and
/// answers as `script` says for the n-th request (1-based).
final class WebhookReceiver: Sendable {
    /// How to answer one request.
    enum Behaviour: Sendable {
        /// 204 No Content.
        case ok
        /// This status, with a Retry-After header (seconds) when given.
        case status(Int, retryAfter: Int? = nil)
        /// Never answer (until `stop()`): for timeout tests.
        case hang
        /// 204 No Content after this long.
        case okAfter(Duration)
    }

    /// One request as received.
    struct Delivery: Sendable {
        /// webhook-id ("" when missing).
        var id: String
        /// webhook-timestamp (0 when missing or not a number).
        var timestamp: Int
        /// Whether webhook-signature verifies against the secret (timestamp within 5 minutes).
        var signatureValid: Bool
        var body: [UInt8]
        var receivedAt: ContinuousClock.Instant
        /// The W3C `traceparent` header, if sent.
        var traceparent: String? = nil
        /// The body as UTF-8 text (parse it with JSONSerialization in the test if needed).
        var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    var port: Int { server.port }
    /// "http://127.0.0.1:<port>/hook".
    var url: String { server.url("/hook") }

    private let state: State
    private let server: LocalHTTPServer

    private init(state: State, server: LocalHTTPServer) {
        self.state = state
        self.server = server
    }

    /// Starts a receiver; `script(n)` decides the answer to the n-th request (1-based).
    static func start(
        secret: WebhookSecret, script: @escaping @Sendable (Int) -> Behaviour = { _ in .ok }
    ) async throws -> WebhookReceiver {
        let state = State(signer: WebhookSigner(secret: secret))
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = Array(try await request.body.collect(upTo: 16 << 20).readableBytesView)
            let n = state.record(headers: request.headers, body: body)
            switch script(n) {
            case .ok:
                return Response(status: .noContent)
            case .status(let code, let retryAfter):
                var headers = HTTPFields()
                if let retryAfter { headers[.retryAfter] = String(retryAfter) }
                return Response(status: .init(code: code), headers: headers)
            case .okAfter(let delay):
                try await Task.sleep(for: delay)
                return Response(status: .noContent)
            case .hang:
                // Until stop() (or ten minutes): polls rather than relying on cancellation reaching the handler.
                let deadline = ContinuousClock.now.advanced(by: .seconds(600))
                while !state.isStopped, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                return Response(status: .serviceUnavailable)
            }
        }
        return WebhookReceiver(state: state, server: try await LocalHTTPServer.start(router, label: "test.webhook-receiver"))
    }

    /// Every request so far, in arrival order.
    func deliveries() -> [Delivery] { state.deliveries }

    /// The first `n` deliveries once that many arrived, or all there are after `timeout`.
    func waitForDeliveries(_ n: Int, timeout: Duration) async -> [Delivery] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let deliveries = state.deliveries
            if deliveries.count >= n { return Array(deliveries.prefix(n)) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return state.deliveries
    }

    /// Releases hung requests and stops the server.
    func stop() async {
        state.stop()
        await server.stop()
    }

    private final class State: Sendable {
        let signer: WebhookSigner
        private let log = Mutex<(deliveries: [Delivery], stopped: Bool)>((deliveries: [], stopped: false))

        init(signer: WebhookSigner) { self.signer = signer }

        var deliveries: [Delivery] { log.withLock { $0.deliveries } }
        var isStopped: Bool { log.withLock { $0.stopped } }
        func stop() { log.withLock { $0.stopped = true } }

        /// Records one request; returns its 1-based number.
        func record(headers: HTTPFields, body: [UInt8]) -> Int {
            func header(_ name: String) -> String? { headers.first { $0.name.canonicalName == name }?.value }
            let id = header("webhook-id") ?? ""
            let timestamp = header("webhook-timestamp").flatMap { Int($0) } ?? 0
            let valid = header("webhook-signature").map {
                signer.verify(id: id, timestamp: timestamp, body: body, signatureHeader: $0)
            } ?? false
            let delivery = Delivery(
                id: id, timestamp: timestamp, signatureValid: valid, body: body, receivedAt: .now, traceparent: header("traceparent"))
            return log.withLock { log in
                log.deliveries.append(delivery)
                return log.deliveries.count
            }
        }
    }
}
