import NIOSSL

/// HTTPS on the gateway's public port (`--tls-cert`, `--tls-key`): a certificate chain and its
/// private key, both PEM, read once at start. TLS 1.2 or later, HTTP/1.1.
///
/// Certificates are not reloaded while the gateway runs: a renewed certificate takes effect on
/// the next start (gateways are stateless and drain on SIGTERM, so a rolling restart loses no
/// call).
public struct GatewayTLS: Sendable {
    let configuration: TLSConfiguration
    public let certificateFile: String

    public init(certificateFile: String, keyFile: String) throws {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw GatewayTLSError("cannot read a PEM certificate chain from \(certificateFile): \(error)")
        }
        guard !chain.isEmpty else { throw GatewayTLSError("\(certificateFile) holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw GatewayTLSError("cannot read a PEM private key from \(keyFile): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        // Fails now, not at the first connection, when the key does not belong to the certificate.
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw GatewayTLSError("\(keyFile) and \(certificateFile) do not make a TLS server configuration (is it the certificate's key?): \(error)")
        }
        self.configuration = configuration
        self.certificateFile = certificateFile
    }
}

public struct GatewayTLSError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
