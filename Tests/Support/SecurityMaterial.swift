import EmbeddedNATS
import Foundation
import Synchronization

/// Certificates, keys and credentials made for one test run (by `nats_security.py`, next to
/// this file: openssl for the certificates, PyPI's nkeys for NKeys and JWTs), and nats-server
/// configurations that require them. For the security tests only: nothing here is trusted
/// beyond the temporary directory it was made in.
public struct SecurityMaterial: Sendable {
    /// The directory everything is in.
    public let directory: String
    /// The CA that signs the server and client certificates, and one that signs nothing trusted.
    public let caFile, untrustedCAFile: String
    public let serverCertificateFile, serverKeyFile: String
    public let clientCertificateFile, clientKeyFile: String
    /// A user NKey the NKey server lists (seed file and public key), and one it does not.
    public let nkeySeedFile, nkeyPublicKey, strangerSeedFile: String
    /// The token of the token server, and a file holding it.
    public let token, tokenFile: String
    /// A `.creds` file of a user of the operator server's account, and one of an unknown account.
    public let credentialsFile, strangerCredentialsFile: String
    private let operatorJWTFile, systemAccount: String
    private let accounts: [String: String]

    /// One set for the whole test process, made on first use and removed when the process exits.
    public static func shared() async throws -> SecurityMaterial {
        try await sharedSet.value
    }

    private static let sharedSet = Task<SecurityMaterial, Error> {
        let material = try make()
        atexit { try? FileManager.default.removeItem(atPath: sharedDirectory.withLock { $0 } ?? "") }
        sharedDirectory.withLock { $0 = material.directory }
        return material
    }

    private static let sharedDirectory = Mutex<String?>(nil)

    /// Makes a fresh set in a new temporary directory.
    private static func make() throws -> SecurityMaterial {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("baton-nats-security-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, directory]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // The script prints its index last, and only when all went well: no need to wait for
        // its exit status (Foundation's wait was seen to hang under load; see runProcess).
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard let index = try? JSONDecoder().decode(Index.self, from: data) else {
            throw FixtureError("nats_security.py failed (scripts/install-deps.sh installs its nkeys):\n\(problems)")
        }
        return SecurityMaterial(directory: directory, index: index)
    }

    private init(directory: String, index: Index) {
        self.directory = directory
        caFile = index.ca
        untrustedCAFile = index.otherCA
        serverCertificateFile = index.serverCertificate
        serverKeyFile = index.serverKey
        clientCertificateFile = index.clientCertificate
        clientKeyFile = index.clientKey
        nkeySeedFile = index.userSeed
        nkeyPublicKey = index.userPublicKey
        strangerSeedFile = index.strangerSeed
        token = index.token
        tokenFile = index.tokenFile
        credentialsFile = index.userCreds
        strangerCredentialsFile = index.strangerCreds
        operatorJWTFile = index.operatorJWT
        systemAccount = index.systemAccount
        accounts = index.accounts
    }

    /// A server that speaks TLS only and, with `verifyClients`, wants a client certificate
    /// signed by the CA.
    public func tlsConfiguration(verifyClients: Bool) -> String {
        """
        tls {
          cert_file: "\(serverCertificateFile)"
          key_file: "\(serverKeyFile)"
          ca_file: "\(caFile)"
          verify: \(verifyClients)
          timeout: 2
        }
        """
    }

    /// A server that wants the token.
    public var tokenConfiguration: String { "authorization { token: \"\(token)\" }" }

    /// A server whose one user is the NKey `nkeyPublicKey`.
    public var nkeyConfiguration: String { "authorization { users: [ { nkey: \(nkeyPublicKey) } ] }" }

    /// A server in operator mode (accounts from JWTs in its memory resolver, JetStream in the
    /// application account) that `credentialsFile` logs in to.
    public var operatorConfiguration: String {
        let preload = accounts.map { "  \($0.key): \"\($0.value)\"" }.joined(separator: "\n")
        return """
            operator: "\(operatorJWTFile)"
            system_account: \(systemAccount)
            resolver: MEMORY
            resolver_preload: {
            \(preload)
            }
            """
    }

    /// Starts a nats-server (the one the tests use, `BATON_NATS_SERVER`) with `configuration`.
    public func startServer(_ configuration: String, name: String) async throws -> NATSServerProcess {
        try await NATSServerProcess.start(serverName: "baton-security-\(name)", extraConfiguration: configuration)
    }

    private static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("nats_security.py").path

    private struct Index: Decodable {
        var ca, otherCA, serverCertificate, serverKey, clientCertificate, clientKey: String
        var userSeed, userPublicKey, strangerSeed, token, tokenFile, userCreds, strangerCreds: String
        var operatorJWT, systemAccount: String
        var accounts: [String: String]

        enum CodingKeys: String, CodingKey {
            case ca = "ca.pem", otherCA = "other-ca.pem", serverCertificate = "server.pem", serverKey = "server.key"
            case clientCertificate = "client.pem", clientKey = "client.key"
            case userSeed = "user.nk", userPublicKey = "user.pub", strangerSeed = "stranger.nk", token, tokenFile = "token.txt"
            case userCreds = "user.creds", strangerCreds = "stranger.creds", operatorJWT = "operator.jwt"
            case systemAccount = "system.pub", accounts
        }
    }
}

/// The fixture could not be made.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
