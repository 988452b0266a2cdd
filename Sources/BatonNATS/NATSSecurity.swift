/// How a connection to NATS is secured: TLS, and one way to prove who the client is.
///
/// Kept apart from the rest of `NATSConfiguration` because it holds or names secrets: its
/// `description` never shows a token, and a server URL's user information is redacted by
/// `NATSSecurity.redacting(url:)` wherever Baton logs one.
public struct NATSSecurity: Sendable, Equatable, CustomStringConvertible {
    /// TLS settings. Any of them (or a `tls://` server URL) turns TLS on.
    public struct TLS: Sendable, Equatable {
        /// PEM file of the CAs that sign the server's certificate (default: the system's).
        public var caFile: String?
        /// PEM client certificate (chain) and its key, for servers that verify clients.
        public var certificateFile: String?
        public var keyFile: String?
        /// The name the server's certificate must carry, when it is not the URL's host.
        public var serverName: String?

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }
    }

    /// nil: TLS only if a server URL says `tls://` (or the server requires it).
    public var tls: TLS?
    /// A `.creds` file (user JWT and NKey seed), for servers in operator (JWT) mode.
    public var credentialsFile: String?
    /// A file holding a user NKey seed (`SU…`), for servers that list NKey users.
    public var nkeySeedFile: String?
    /// An authorization token.
    public var token: String?

    public init(tls: TLS? = nil, credentialsFile: String? = nil, nkeySeedFile: String? = nil, token: String? = nil) {
        self.tls = tls
        self.credentialsFile = credentialsFile
        self.nkeySeedFile = nkeySeedFile
        self.token = token
    }

    /// Whether connecting signs the server's nonce (an NKey, or the seed of a `.creds` file).
    var signsNonce: Bool { credentialsFile != nil || nkeySeedFile != nil }

    /// Whether the connection uses TLS with these servers.
    public func usesTLS(servers: [String]) -> Bool {
        tls != nil || servers.contains { $0.lowercased().hasPrefix("tls://") }
    }

    /// Throws `.invalidConfiguration` for settings that cannot work together.
    public func validate() throws {
        let identities = [credentialsFile.map { _ in "a credentials file" }, nkeySeedFile.map { _ in "an NKey seed" }, token.map { _ in "a token" }]
            .compactMap { $0 }
        if identities.count > 1 {
            throw NATSError(.invalidConfiguration, "NATS credentials: give one of a credentials file, an NKey seed or a token, not \(identities.joined(separator: " and "))")
        }
        if let tls, (tls.certificateFile == nil) != (tls.keyFile == nil) {
            throw NATSError(.invalidConfiguration, "NATS TLS: a client certificate needs its key and a key its certificate")
        }
    }

    /// What is set, secrets not shown: `TLS (CA /etc/ca.pem), credentials file /etc/x.creds`.
    public var description: String {
        var parts: [String] = []
        if let tls {
            let details = [tls.caFile.map { "CA \($0)" }, tls.certificateFile.map { "client certificate \($0)" }, tls.serverName.map { "server name \($0)" }]
                .compactMap { $0 }
            parts.append(details.isEmpty ? "TLS" : "TLS (\(details.joined(separator: ", ")))")
        }
        if let credentialsFile { parts.append("credentials file \(credentialsFile)") }
        if let nkeySeedFile { parts.append("NKey seed file \(nkeySeedFile)") }
        if token != nil { parts.append("token <set>") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// `nats://user:secret@host:4222` → `nats://<redacted>@host:4222`: a URL's user information
    /// (user and password, or a token) never reaches a log.
    public static func redacting(url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + "<redacted>" + String(rest[at...])
    }
}
