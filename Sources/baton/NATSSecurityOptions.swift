import ArgumentParser
import BatonNATS
import Foundation

/// How `baton gateway`, `worker`, `sub` and `dev` (with `--nats-url`) secure their NATS
/// connections: TLS, and at most one credential (a `.creds` file, an NKey seed or a token).
/// Like every option these come from flags, `BATON_NATS_*` variables or the configuration file.
struct NATSSecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp("CA certificates (PEM) that sign the NATS servers' certificates; turns TLS on, as does a tls:// URL (default CAs: the system's).", valueName: "file"))
    var natsTlsCa: String?

    @Option(help: ArgumentHelp("Client certificate (PEM) for NATS servers that verify clients; turns TLS on (needs --nats-tls-key).", valueName: "file"))
    var natsTlsCert: String?

    @Option(help: ArgumentHelp("Private key (PEM) of --nats-tls-cert.", valueName: "file"))
    var natsTlsKey: String?

    @Option(help: ArgumentHelp("The name the NATS servers' certificates must carry, when not the URL's host; turns TLS on.", valueName: "name"))
    var natsTlsServerName: String?

    @Option(help: ArgumentHelp("NATS credentials file (.creds: user JWT and NKey seed), for servers in operator/JWT mode.", valueName: "file"))
    var natsCreds: String?

    @Option(help: ArgumentHelp("File holding a NATS user NKey seed (SU…), for servers that list NKey users.", valueName: "file"))
    var natsNkeySeed: String?

    @Option(help: ArgumentHelp("NATS authorization token (shows in `ps`: prefer --nats-token-file or BATON_NATS_TOKEN).", valueName: "token"))
    var natsToken: String?

    @Option(help: ArgumentHelp("File holding the NATS authorization token.", valueName: "file"))
    var natsTokenFile: String?

    /// The settings for `NATSConfiguration.security`; a token file is read here.
    func security() throws -> NATSSecurity {
        var security = NATSSecurity(credentialsFile: natsCreds, nkeySeedFile: natsNkeySeed, token: natsToken)
        if natsTlsCa != nil || natsTlsCert != nil || natsTlsKey != nil || natsTlsServerName != nil {
            security.tls = .init(caFile: natsTlsCa, certificateFile: natsTlsCert, keyFile: natsTlsKey, serverName: natsTlsServerName)
        }
        if let natsTokenFile {
            guard natsToken == nil else { throw ValidationError("give --nats-token or --nats-token-file, not both") }
            guard let data = FileManager.default.contents(atPath: natsTokenFile), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("cannot read the NATS token file \(natsTokenFile)")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("the NATS token file \(natsTokenFile) is empty") }
            security.token = token
        }
        do {
            try security.validate()
        } catch let error as NATSError {
            throw ValidationError(error.message)
        }
        return security
    }

    /// A NATS configuration for `urls` (comma-separated) with these settings.
    func configuration(urls: String, name: String) throws -> NATSConfiguration {
        var configuration = NATSConfiguration(urls: urls, name: name)
        configuration.security = try security()
        return configuration
    }
}
