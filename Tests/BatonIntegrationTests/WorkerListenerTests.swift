import BatonTestSupport
import EmbeddedNATS
import Foundation
import Testing

/// A worker's one listener, `--metrics-port`: `/metrics` and `/healthz` for its operators, and
/// a problem document, as on the gateway's ports, for a request NIO's parser refuses. A real
/// `baton worker` process on a nats-server of its own (on the shared system's, it would take
/// other tests' `echo` jobs).
@Suite("worker listener: /metrics, /healthz and refused requests", .timeLimit(.minutes(2)))
struct WorkerListenerTests {
    @Test func servesMetricsAndHealthAndAnswersARefusedRequestWithAProblem() async throws {
        let server = try await NATSServerProcess.shared("worker-listener")
        let port = try freePort()
        let worker = try WorkerProcess(
            natsURL: server.url, arguments: ["--services", "echo", "--metrics-host", "127.0.0.1", "--metrics-port", String(port)])
        defer { worker.kill() }
        try await worker.waitUntilServing()
        let listener = HTTPClient(baseURL: "http://127.0.0.1:\(port)")
        try await waitUntil(timeout: .seconds(30)) { (try? await listener.get("/healthz").status) == 200 || !worker.process.isRunning }
        try #require(worker.process.isRunning, "worker exited:\n\(worker.log)")

        let health = try await listener.get("/healthz")
        #expect(health.text == #"{"status":"ok"}"#)
        #expect(health.header("content-type") == "application/json")
        let metrics = try await listener.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true, "\(metrics.headers)")
        // A fresh worker's scrape names what it serves, at zero.
        #expect(metrics.text.contains(#"baton_jobs_in_flight{service="echo"} 0"#), "\(metrics.text.prefix(1_000))")
        #expect(metrics.text.contains(#"baton_jobs_finished_total{service="echo",state="succeeded"} 0"#), "\(metrics.text.prefix(1_000))")
        #expect(try await listener.get("/v1/services").status == 404)

        // What the parser refuses: a bad request line, and more header fields than it takes.
        try await expectRefusal(port: port, "GARBAGE\r\n\r\n", status: 400, type: "/problems/bad-request")
        let fields = (0..<1_100).map { "X-Field-\($0): v\r\n" }.joined()
        try await expectRefusal(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\(fields)\r\n", status: 431, type: "/problems/http-431")

        // The listener and the worker carry on.
        #expect(try await listener.get("/healthz").status == 200)
        #expect(worker.process.isRunning)
    }
}
