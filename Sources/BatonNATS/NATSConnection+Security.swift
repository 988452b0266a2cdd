import CNats
import Foundation

extension NATSConnection {
    /// Sets `configuration.security` on nats.c options: TLS first (the files are loaded now, so
    /// a missing or bad one fails here, named), then the one credential.
    static func applySecurity(_ configuration: NATSConfiguration, to opts: OpaquePointer?) throws {
        let security = configuration.security
        try security.validate()
        if security.usesTLS(servers: configuration.servers) {
            try check("NATS TLS", natsOptions_SetSecure(opts, true))
        }
        if let tls = security.tls {
            if let caFile = tls.caFile {
                try loading("the NATS TLS CA file \(caFile)", natsOptions_LoadCATrustedCertificates(opts, caFile))
            }
            if let certificateFile = tls.certificateFile, let keyFile = tls.keyFile {
                try loading(
                    "the NATS TLS client certificate \(certificateFile) and key \(keyFile)",
                    natsOptions_LoadCertificatesChain(opts, certificateFile, keyFile))
            }
            if let serverName = tls.serverName {
                try check("natsOptions_SetExpectedHostname", natsOptions_SetExpectedHostname(opts, serverName))
            }
        }
        if let credentialsFile = security.credentialsFile {
            try readable(credentialsFile, what: "NATS credentials file")
            try check("natsOptions_SetUserCredentialsFromFiles", natsOptions_SetUserCredentialsFromFiles(opts, credentialsFile, nil))
        }
        if let seedFile = security.nkeySeedFile {
            let seed = try NKeySeed(file: seedFile)
            try check("natsOptions_SetNKeyFromSeed", natsOptions_SetNKeyFromSeed(opts, seed.publicKey, seedFile))
        }
        if let token = security.token {
            try check("natsOptions_SetToken", natsOptions_SetToken(opts, token))
        }
    }

    /// A TLS server that refuses the client's certificate (or wants one and got none) closes
    /// the connection once the handshake is done, so nats.c reports only that the server's
    /// answer to CONNECT was empty (`Expected 'PONG', got ''`). Over TLS that is the likely
    /// cause, and retrying does not mend it: say so.
    static func explained(_ error: NATSError, _ configuration: NATSConfiguration) -> NATSError {
        guard error.kind == .client(status: Int32(NATS_PROTOCOL_ERROR.rawValue)), error.message.hasSuffix("got ''"),
            configuration.security.usesTLS(servers: configuration.servers)
        else { return error }
        let hint = configuration.security.tls?.certificateFile == nil
            ? "it probably wants a client certificate, and got none"
            : "it probably does not trust the client certificate"
        return NATSError(.tls, "\(error.message): TLS failed: the server closed the connection after the TLS handshake; \(hint)")
    }

    /// Runs a nats.c call that loads a file; its failure is a configuration error naming the file.
    private static func loading(_ what: String, _ status: natsStatus) throws {
        do {
            try check(what, status)
        } catch let error as NATSError {
            throw NATSError(.invalidConfiguration, "cannot load \(error.message)")
        }
    }

    /// nats.c reads a credentials file only when it connects, and its error then does not say
    /// which file: check it can be read first.
    private static func readable(_ path: String, what: String) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw NATSError(.invalidConfiguration, "cannot read the \(what) \(path)")
        }
    }
}

extension NATSConfiguration {
    /// The server URLs with any user information (user, password, token) redacted, for messages.
    var redactedServers: [String] { servers.map(NATSSecurity.redacting(url:)) }
}
