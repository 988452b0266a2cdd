import BatonNATS
import BatonTestSupport
import EmbeddedNATS
import Foundation
import Logging
import NIOCore
import Testing

/// Connections to real nats-servers that require TLS, a token, an NKey user or (operator mode)
/// a `.creds` file, with certificates and keys made for the run (`SecurityMaterial`). A wrong
/// credential or an untrusted certificate fails the connect at once, with an error that says
/// which, instead of retrying until the connect timeout; no secret reaches a log line.
@Suite("NATS security: TLS, token, NKey, credentials", .serialized, .timeLimit(.minutes(2)))
struct NATSSecurityTests {
    @Test func tlsWithAClientCertificate() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.tlsConfiguration(verifyClients: true), name: "tls")
        defer { server.stop() }
        let tls = NATSSecurity.TLS(caFile: material.caFile, certificateFile: material.clientCertificateFile, keyFile: material.clientKeyFile)
        // A tls:// URL, and a nats:// URL with TLS options: both speak TLS.
        try await expectRoundTrip(servers: ["tls://127.0.0.1:\(server.port)"], NATSSecurity(tls: tls))
        try await expectRoundTrip(servers: [server.url], NATSSecurity(tls: tls))
        // The name the certificate carries, when the URL's host is not it.
        var named = tls
        named.serverName = "localhost"
        try await expectRoundTrip(servers: [server.url], NATSSecurity(tls: named))
    }

    @Test func tlsFailuresAreQuickAndSayWhy() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.tlsConfiguration(verifyClients: true), name: "tls-bad")
        defer { server.stop() }
        let client = (cert: material.clientCertificateFile, key: material.clientKeyFile)
        // The server's certificate is signed by a CA the client does not trust.
        let untrusted = try await expectConnectFailure(
            servers: [server.url], NATSSecurity(tls: .init(caFile: material.untrustedCAFile, certificateFile: client.cert, keyFile: client.key)))
        #expect(untrusted.kind == .tls)
        #expect(untrusted.message.contains("certificate"), "\(untrusted.message)")
        // The certificate is not for the name the client expects.
        let wrongName = try await expectConnectFailure(
            servers: [server.url],
            NATSSecurity(tls: .init(caFile: material.caFile, certificateFile: client.cert, keyFile: client.key, serverName: "nats.example.com")))
        #expect(wrongName.kind == .tls)
        // A plain nats:// client: nats.c follows the server to TLS, and the system's CAs do not
        // trust the test CA.
        let plain = try await expectConnectFailure(servers: [server.url], NATSSecurity())
        #expect(plain.kind == .tls)
        // No client certificate, and the server verifies clients.
        let anonymous = try await expectConnectFailure(servers: [server.url], NATSSecurity(tls: .init(caFile: material.caFile)))
        #expect(anonymous.kind == .tls)
        #expect(anonymous.message.contains("client certificate"), "\(anonymous.message)")
    }

    @Test func tlsWantedButTheServerHasNone() async throws {
        let server = try await NATSServerProcess.shared()
        let error = try await expectConnectFailure(servers: ["tls://127.0.0.1:\(server.port)"], NATSSecurity())
        #expect(error.kind == .tls)
    }

    @Test func token() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.tokenConfiguration, name: "token")
        defer { server.stop() }
        try await expectRoundTrip(servers: [server.url], NATSSecurity(token: material.token))
        let wrong = try await expectConnectFailure(servers: [server.url], NATSSecurity(token: "not-the-token"))
        #expect(wrong.kind == .authorizationFailed)
        #expect(wrong.message.contains("Authorization Violation"), "\(wrong.message)")
        #expect(!wrong.message.contains("not-the-token"))
        let none = try await expectConnectFailure(servers: [server.url], NATSSecurity())
        #expect(none.kind == .authorizationFailed)
    }

    @Test func nkeyUser() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.nkeyConfiguration, name: "nkey")
        defer { server.stop() }
        try await expectRoundTrip(servers: [server.url], NATSSecurity(nkeySeedFile: material.nkeySeedFile))
        let stranger = try await expectConnectFailure(servers: [server.url], NATSSecurity(nkeySeedFile: material.strangerSeedFile))
        #expect(stranger.kind == .authorizationFailed)
        // A seed that is not one is refused before any connection is made.
        let bad = material.directory + "/bad.nk"
        try "SUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let malformed = try await expectConnectFailure(servers: [server.url], NATSSecurity(nkeySeedFile: bad))
        #expect(malformed.kind == .invalidConfiguration)
        #expect(malformed.message.contains(bad))
    }

    /// libnats before 3.8 sends no signature for 1 nonce in 256 (`NATSLibrary.dropsSomeSignatures`):
    /// a thousand connects with a good NKey all succeed, where without `connect`'s retry
    /// 98 runs in 100 would see at least one refused.
    @Test func aThousandConnectsWithAGoodNKeyAllSucceed() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.nkeyConfiguration, name: "nkey-many")
        defer { server.stop() }
        var nkeyUser = NATSConfiguration(servers: [server.url], name: "security-test")
        nkeyUser.security = NATSSecurity(nkeySeedFile: material.nkeySeedFile)
        // Ten at a time: one after another they took 24-34 s of a loaded CI run.
        let configuration = nkeyUser, logger = quietLogger
        let refused = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<10 {
                group.addTask {
                    var refused: [String] = []
                    for _ in 0..<100 {
                        do {
                            try await NATSConnection.connect(configuration, logger: logger).close()
                        } catch {
                            refused.append("\(error)")
                        }
                    }
                    return refused
                }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(refused.isEmpty, "\(refused.count) of 1,000 connects refused: \(refused.prefix(3))")
    }

    @Test func credentialsFileInOperatorMode() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.operatorConfiguration, name: "operator")
        defer { server.stop() }
        let connection = try await expectRoundTrip(servers: [server.url], NATSSecurity(credentialsFile: material.credentialsFile), keepOpen: true)
        // JetStream works in the credentials' account, as the gateway and worker need.
        let stream = "SECURITY_\(UInt32.random(in: 0...UInt32.max))"
        let js = try JetStream(connection)
        _ = try await js.ensureStream(StreamSpec(name: stream, subjects: ["\(stream.lowercased()).>"]))
        #expect(try await js.streamExists(stream))
        await connection.close()
        let stranger = try await expectConnectFailure(servers: [server.url], NATSSecurity(credentialsFile: material.strangerCredentialsFile))
        #expect(stranger.kind == .authorizationFailed)
    }

    @Test func unreadableFilesAndConflictsAreConfigurationErrors() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await NATSServerProcess.shared()
        let missing = material.directory + "/missing.pem"
        let ca = try await expectConnectFailure(servers: [server.url], NATSSecurity(tls: .init(caFile: missing)))
        #expect(ca.kind == .invalidConfiguration)
        #expect(ca.message.contains(missing), "\(ca.message)")
        let creds = try await expectConnectFailure(servers: [server.url], NATSSecurity(credentialsFile: missing))
        #expect(creds.kind == .invalidConfiguration)
        #expect(creds.message.contains(missing))
        let both = try await expectConnectFailure(
            servers: [server.url], NATSSecurity(credentialsFile: material.credentialsFile, token: material.token))
        #expect(both.kind == .invalidConfiguration)
        let halfPair = try await expectConnectFailure(
            servers: [server.url], NATSSecurity(tls: .init(certificateFile: material.clientCertificateFile)))
        #expect(halfPair.kind == .invalidConfiguration)
    }

    /// The token, and a URL's user information, appear in no log line or error, connected or not.
    @Test func secretsStayOutOfLogs() async throws {
        let material = try await SecurityMaterial.shared()
        let server = try await material.startServer(material.tokenConfiguration, name: "token-logs")
        defer { server.stop() }
        let capture = LogCapture()
        let logger = capture.logger("security-test", level: .trace)
        var configuration = NATSConfiguration(servers: [server.url], name: "security-logs")
        configuration.security = NATSSecurity(token: material.token)
        let connection = try await NATSConnection.connect(configuration, logger: logger)
        await connection.drainAndClose()
        // The token in the URL (nats://TOKEN@host), and a wrong one there.
        let inURL = try await NATSConnection.connect(
            NATSConfiguration(servers: ["nats://\(material.token)@127.0.0.1:\(server.port)"], name: "security-logs-url"), logger: logger)
        await inURL.drainAndClose()
        var failing = NATSConfiguration(servers: ["nats://wrong-\(material.token)@127.0.0.1:\(server.port)"], name: "security-logs-bad")
        failing.connectTimeout = .seconds(3)
        let error = await #expect(throws: NATSError.self) { try await NATSConnection.connect(failing, logger: logger) }
        let text = capture.lines.joined(separator: "\n") + "\n" + (error?.description ?? "")
        #expect(capture.lines.contains { $0.contains("connected to NATS") && $0.contains("token <set>") }, "\(capture.lines)")
        #expect(text.contains("<redacted>@127.0.0.1"), "\(text)")
        #expect(!text.contains(material.token), "\(text)")
    }

    // MARK: - Helpers

    /// Connects, checks a message goes round through the server, and closes (unless `keepOpen`).
    @discardableResult
    private func expectRoundTrip(servers: [String], _ security: NATSSecurity, keepOpen: Bool = false) async throws -> NATSConnection {
        var configuration = NATSConfiguration(servers: servers, name: "security-test")
        configuration.security = security
        let connection = try await NATSConnection.connect(configuration, logger: quietLogger)
        let subject = uniqueSubject("security")
        let subscription = try connection.subscribe(to: subject)
        try await connection.flush()
        try connection.publish(ByteBuffer("over \(servers[0])"), to: subject)
        #expect(await collect(subscription, count: 1).map(\.string) == ["over \(servers[0])"])
        if !keepOpen { await connection.close() }
        return connection
    }

    /// Expects the connect to fail well within its 10 s connect timeout (no retrying), and
    /// returns the error.
    private func expectConnectFailure(servers: [String], _ security: NATSSecurity) async throws -> NATSError {
        var configuration = NATSConfiguration(servers: servers, name: "security-test")
        configuration.security = security
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: NATSError.self) { try await NATSConnection.connect(configuration, logger: quietLogger) }
        let elapsed = clock.now - start
        #expect(elapsed < .seconds(8), "the connect took \(elapsed) to fail: it retried")
        return try #require(error)
    }

    private var quietLogger: Logger {
        var logger = Logger(label: "security-test")
        logger.logLevel = .warning
        return logger
    }
}
