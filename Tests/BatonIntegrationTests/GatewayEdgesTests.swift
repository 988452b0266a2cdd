import BatonTestSupport
import Foundation
import Testing

/// The gateway's own edges, on a real `baton gateway` process: HTTPS on the public port
/// (`--tls-cert`, `--tls-key`) called by the `curl` binary (libcurl, OpenSSL) trusting a
/// certificate made by `openssl` for the test, and the operator endpoints on `--admin-port`
/// only. The jobs are run by the shared system's worker.
@Suite("gateway edges: HTTPS and the admin port", .timeLimit(.minutes(2)))
struct GatewayEdgesTests {
    @Test func httpsOnThePublicPortAndOperatorEndpointsOnTheAdminPortOnly() async throws {
        let system = try await SharedSystem.get()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (certificate, key) = try await selfSignedCertificate(in: directory)
        let adminPort = try freePort()
        let gateway = try GatewayProcess(
            natsURL: system.server.url,
            arguments: ["--tls-cert", certificate, "--tls-key", key, "--admin-port", String(adminPort), "--no-webhooks"])
        defer { gateway.kill() }
        let admin = HTTPClient(baseURL: "http://127.0.0.1:\(adminPort)")
        try await waitUntil(timeout: .seconds(30)) {
            (try? await admin.get("/readyz").status) == 200 || !gateway.process.isRunning
        }
        try #require(gateway.process.isRunning, "gateway exited:\n\(gateway.log)")
        let https = "https://localhost:\(gateway.port)"

        // HTTPS, certificate verified against the test's CA: a job runs and answers.
        let submitted = try await curl(
            ["-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", "over tls", "\(https)/v1/jobs/echo"], trusting: certificate)
        #expect(submitted.status == 200, "\(submitted)\n\(gateway.log)")
        #expect(submitted.body == "over tls")
        #expect(try await curl(["\(https)/v1/services"], trusting: certificate).status == 200)

        // Without the CA the certificate is refused (curl exit 60); plain HTTP to the TLS port
        // gets no HTTP answer at all.
        let untrusted = try await curl(["\(https)/v1/services"], trusting: nil)
        #expect(untrusted.exit == 60, "\(untrusted)")
        let plain = try await curl(["http://127.0.0.1:\(gateway.port)/v1/services"], trusting: nil)
        #expect(plain.exit != 0 && plain.status == 0, "\(plain)")

        // The operator endpoints answer on the admin port (plain HTTP)…
        let metrics = try await admin.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text.contains("baton_"), "\(metrics.text.prefix(500))")
        #expect(try await admin.get("/readyz").status == 200)
        #expect(try await admin.get("/healthz").status == 200)
        // …and not on the public port, which answers them 404 …
        for path in ["/metrics", "/readyz", "/healthz"] {
            let response = try await curl(["\(https)\(path)"], trusting: certificate)
            #expect(response.status == 404, "\(path): \(response)")
        }
        // … while the API is not on the admin port.
        let api = try await admin.post("/v1/jobs/echo", "x")
        #expect(api.status == 404)
        #expect(try api.json()["type"] as? String == "/problems/not-found", "\(api.text)")
        #expect(try await admin.get("/v1/services").status == 404)
        #expect(try await admin.get("/ui").status == 404)
        // A request the parser refuses is a problem there too.
        let garbage = try await RawHTTP.exchange(port: adminPort, "GARBAGE\r\n\r\n")
        #expect(garbage.count == 1 && garbage[0].status == 400, "\(garbage)")
        #expect(garbage.first?.headers["content-type"] == "application/problem+json")
    }

    @Test func aBadCertificateOrAHalfTLSConfigurationStopsTheGatewayAtStart() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (certificate, _) = try await selfSignedCertificate(in: directory)
        let half = try await runBaton(["gateway", "--tls-cert", certificate])
        #expect(half.status == 64, "\(half)")
        #expect(half.stderr.contains("--tls-cert needs --tls-key"), "\(half)")
        let notAKey = directory.appendingPathComponent("not-a-key.pem").path
        try "not a key".write(toFile: notAKey, atomically: true, encoding: .utf8)
        let bad = try await runBaton(["gateway", "--tls-cert", certificate, "--tls-key", notAKey])
        #expect(bad.status == 64, "\(bad)")
        #expect(bad.stderr.contains("private key"), "\(bad)")
        let same = try await runBaton(["gateway", "--port", "8089", "--admin-port", "8089"])
        #expect(same.status == 64, "\(same)")
    }

    @Test func theNewOptionsAreInHelpAndConfig() async throws {
        let help = try await runBaton(["gateway", "--help"])
        for option in ["--tls-cert <file>", "--tls-key <file>", "--admin-port <admin-port>", "--admin-host <admin-host>"] {
            #expect(help.text.contains(option), "\(option)")
        }
        let config = try await runBaton(["config", "gateway", "--admin-port", "9090"], environment: ["BATON_TLS_CERT": "/etc/baton/cert.pem"])
        #expect(config.status == 0, "\(config)")
        let rows = config.text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(rows.contains("--admin-port 9090 command line"), "\(config.text)")
        #expect(rows.contains("--tls-cert /etc/baton/cert.pem environment BATON_TLS_CERT"), "\(config.text)")
        #expect(rows.contains("--tls-key (none) default"), "\(config.text)")
        let keys = try await runBaton(["keys", "hash", "--help"])
        #expect(keys.status == 0 && keys.text.contains("--name <name>"), "\(keys)")
    }

    // MARK: - Support

    /// A self-signed certificate for localhost and 127.0.0.1 (its own CA) and its key, PEM.
    private func selfSignedCertificate(in directory: URL) async throws -> (certificate: String, key: String) {
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let made = try await runProcess(
            "/usr/bin/openssl",
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", key, "-out", certificate],
            timeout: .seconds(30))
        try #require(made.status == 0, "openssl: \(made.output)")
        return (certificate, key)
    }

    /// `curl` with `arguments`: its exit code, the HTTP status (0: none) and the body.
    private func curl(_ arguments: [String], trusting ca: String?) async throws -> (exit: Int32, status: Int, body: String) {
        let body = FileManager.default.temporaryDirectory.appendingPathComponent("baton-curl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: body) }
        let result = try await runProcess(
            "/usr/bin/curl", ["-sS", "--max-time", "20", "-o", body, "-w", "\n%{http_code}"] + (ca.map { ["--cacert", $0] } ?? []) + arguments,
            timeout: .seconds(30))
        let status = Int(result.output.split(separator: "\n").last ?? "") ?? 0
        return (result.status, status, (try? String(contentsOfFile: body, encoding: .utf8)) ?? "")
    }

    private func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-edges-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}
