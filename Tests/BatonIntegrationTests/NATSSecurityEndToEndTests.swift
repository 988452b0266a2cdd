import BatonTestSupport
import EmbeddedNATS
import Foundation
import Testing

/// `baton gateway`, `worker`, `dev` and `config` with NATS security options, against real
/// nats-servers that require them (certificates and credentials from `SecurityMaterial`).
@Suite("NATS security end to end", .serialized, .timeLimit(.minutes(3)))
struct NATSSecurityEndToEndTests {
    /// A server that wants TLS with client certificates and a `.creds` login (operator mode):
    /// the gateway gets its settings as flags, the worker as BATON_NATS_* variables, and a
    /// call goes through both.
    @Test func gatewayAndWorkerOverTLSWithACredentialsFile() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(
            material.tlsConfiguration(verifyClients: true) + "\n" + material.operatorConfiguration, name: "e2e-tls-creds")
        defer { server.stop() }
        let url = "tls://127.0.0.1:\(server.port)"
        let worker = try WorkerProcess(
            natsURL: url, arguments: ["--services", "echo"],
            environment: [
                "BATON_NATS_TLS_CA": material.caFile, "BATON_NATS_TLS_CERT": material.clientCertificateFile,
                "BATON_NATS_TLS_KEY": material.clientKeyFile, "BATON_NATS_CREDS": material.credentialsFile,
            ])
        defer { worker.kill() }
        let gateway = try GatewayProcess(
            natsURL: url,
            arguments: [
                "--no-webhooks", "--nats-tls-ca", material.caFile, "--nats-tls-cert", material.clientCertificateFile,
                "--nats-tls-key", material.clientKeyFile, "--nats-creds", material.credentialsFile,
            ])
        defer { gateway.kill() }
        try await worker.waitUntilServing()
        try await gateway.waitUntilReady()
        let response = try await gateway.client.post("/v1/jobs/echo", "over TLS", headers: ["Content-Type": "text/plain"])
        #expect(response.status == 200, "\(response.status) \(response.text)")
        #expect(response.text == "over TLS")
        #expect(gateway.log.contains("credentials file \(material.credentialsFile)"), "\(gateway.log)")
    }

    /// `baton dev --nats-url` uses a server of its own choosing, here one that wants a token
    /// (from a file), instead of starting one.
    @Test func devAgainstAServerThatWantsAToken() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.tokenConfiguration, name: "e2e-dev-token")
        defer { server.stop() }
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try batonExecutable())
        process.arguments = [
            "dev", "--port", String(port), "--nats-url", server.url, "--nats-token-file", material.tokenFile, "--services", "echo",
            "--log-level", "debug",
        ]
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("baton-dev-token-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: logPath) }
        let log = try #require(FileHandle(forWritingAtPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let client = HTTPClient(baseURL: "http://127.0.0.1:\(port)")
        try await waitUntil(timeout: .seconds(30)) { (try? await client.get("/readyz").status) == 200 || !process.isRunning }
        let response = try await client.post("/v1/jobs/echo", "token", headers: ["Content-Type": "text/plain"])
        #expect(response.status == 200, "\(response.status) \(response.text)")
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(output.contains("token <set>"), "\(output)")
        #expect(!output.contains(material.token), "the token is in baton dev's output")
        kill(process.processIdentifier, SIGTERM)
        await waitForExit(process)
    }

    /// A wrong token or an untrusted server certificate: the process exits non-zero within a
    /// few seconds (not after the 10 s connect timeout) and says what is wrong.
    @Test func wrongCredentialsStopStartUpQuicklyAndSayWhy() async throws {
        let material = try await SecurityMaterial.shared()
        let tokenServer = try await material.startServer(material.tokenConfiguration, name: "e2e-bad-token")
        defer { tokenServer.stop() }
        let clock = ContinuousClock()
        var start = clock.now
        let gateway = try await runBaton(["gateway", "--nats-url", tokenServer.url, "--port", "0"], environment: ["BATON_NATS_TOKEN": "wrong-token"])
        #expect(clock.now - start < .seconds(5))
        #expect(gateway.status != 0)
        #expect(gateway.stderr.contains("refused the credentials (Authorization Violation)"), "\(gateway.stderr)")
        #expect(!gateway.stderr.contains("wrong-token"))

        let tlsServer = try await material.startServer(material.tlsConfiguration(verifyClients: false), name: "e2e-bad-ca")
        defer { tlsServer.stop() }
        start = clock.now
        let worker = try await runBaton(["worker", "--nats-url", tlsServer.url, "--nats-tls-ca", material.untrustedCAFile, "--metrics-port", "0"])
        #expect(clock.now - start < .seconds(5))
        #expect(worker.status != 0)
        #expect(worker.stderr.contains("TLS failed"), "\(worker.stderr)")
        #expect(worker.stderr.contains("certificate"), "\(worker.stderr)")

        // baton dev's own nats-server has no credentials: asking for some without --nats-url is
        // a usage error, not a silently insecure start.
        let dev = try await runBaton(["dev", "--port", "0", "--nats-creds", material.credentialsFile])
        #expect(dev.status != 0)
        #expect(dev.stderr.contains("give --nats-url too"), "\(dev.stderr)")
    }

    /// `baton config` lists every NATS security option and where it comes from, the token as
    /// `<set>` and a URL's password redacted; each command's help lists them.
    @Test func configAndHelpShowTheOptionsButNoSecret() async throws {
        let result = try await runBaton(
            ["config", "gateway", "--nats-url", "nats://baton:hunter2@nats-1:4222", "--nats-tls-ca", "/etc/baton/ca.pem"],
            environment: ["BATON_NATS_TOKEN": "s3cr3t-token-value", "BATON_NATS_CREDS": "/etc/baton/baton.creds"])
        #expect(result.status == 0, "\(result.stderr)")
        let text = result.text
        let row = { (option: String) in text.split(separator: "\n").first { $0.hasPrefix(option + " ") }.map(String.init) ?? "" }
        #expect(row("--nats-token").contains("<set>") && row("--nats-token").contains("environment BATON_NATS_TOKEN"), "\(text)")
        #expect(row("--nats-creds").contains("/etc/baton/baton.creds"))
        #expect(row("--nats-tls-ca").contains("/etc/baton/ca.pem") && row("--nats-tls-ca").contains("command line"))
        #expect(row("--nats-url").contains("nats://<redacted>@nats-1:4222"))
        #expect(!text.contains("s3cr3t") && !text.contains("hunter2"), "\(text)")

        let options = [
            "--nats-tls-ca", "--nats-tls-cert", "--nats-tls-key", "--nats-tls-server-name", "--nats-creds", "--nats-nkey-seed",
            "--nats-token", "--nats-token-file",
        ]
        for command in ["gateway", "worker", "sub", "dev"] {
            let help = try await runBaton([command, "--help"])
            for option in options {
                #expect(help.text.contains(option), "baton \(command) --help lacks \(option)")
            }
        }
    }
}
