import BatonHTTPClient

/// A webhook URL that passed a `WebhookPolicy`: parsed by libcurl's own URL parser (so the host
/// checked here is the host libcurl connects to) and normalized.
public struct WebhookTarget: Sendable, Equatable {
    /// The normalized URL (lowercased host, no fragment) that the client requests.
    public var url: String
    /// "http" or "https".
    public var scheme: String
    /// The host name, or the IP address without brackets ("::1").
    public var host: String
    /// The port, explicit or the scheme's default.
    public var port: Int
    /// The addresses the client may connect to: the host itself for an IP literal, the checked DNS
    /// answers after `WebhookPolicy.resolve`, empty after `checkSyntax` of a host name.
    public var addresses: [String]

    public init(url: String, scheme: String, host: String, port: Int, addresses: [String]) {
        self.url = url
        self.scheme = scheme
        self.host = host
        self.port = port
        self.addresses = addresses
    }

    /// The host as an IP address, when it is one.
    var ipLiteral: IPAddress? { IPAddress(host) }
}

/// Parses URLs with libcurl's URL API (`CurlURL`), the same parser the transfer uses.
enum TargetURLParser {
    static func parse(_ string: String) throws(WebhookError) -> WebhookTarget {
        guard !string.isEmpty, string.utf8.count <= 4096 else { throw .invalidURL("empty or longer than 4096 bytes") }
        guard string.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw .invalidURL("contains spaces, control or non-ASCII characters (percent-encode them; use punycode for host names)")
        }
        guard let colon = string.utf8.firstIndex(of: UInt8(ascii: ":")) else { throw .invalidURL("expected scheme://host/path") }
        let written = String(string[..<colon]).lowercased()
        if !written.isEmpty, written.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7a }), written != "http", written != "https" {
            throw .unsupportedScheme(written)
        }
        // libcurl accepts "http:/x" and "http:///x" as "http://x"; a webhook URL must be plain.
        guard string.utf8[colon...].starts(with: "://".utf8), !string.utf8[colon...].dropFirst(3).starts(with: "/".utf8) else {
            throw .invalidURL("expected scheme://host/path")
        }
        let parsed: CurlURL
        do {
            parsed = try CurlURL(string, allowsUnknownScheme: true)
        } catch {
            throw .invalidURL(error.description)
        }

        let scheme = (parsed.get(.scheme) ?? "").lowercased()
        guard scheme == "http" || scheme == "https" else { throw .unsupportedScheme(scheme) }
        guard parsed.get(.user) == nil, parsed.get(.password) == nil else {
            throw .invalidURL("user info (user:password@) is not allowed")
        }
        guard parsed.get(.zoneID) == nil else { throw .invalidURL("IPv6 zone ids are not allowed") }
        guard var host = parsed.get(.host)?.lowercased(), !host.isEmpty else { throw .invalidURL("no host") }
        guard let portText = parsed.get(.port, defaultPort: true), let port = Int(portText), (1...65535).contains(port) else {
            throw .invalidURL("invalid port")
        }

        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), IPAddress(host) != nil else { throw .invalidURL("invalid IPv6 address \(host)") }
        } else {
            while host.hasSuffix(".") { host.removeLast() }
            if IPAddress(host) == nil {
                try checkHostName(host)
            } else if !isLiteral(host, writtenIn: string) {
                // libcurl normalizes "127.1", "0x7f.0.0.1" or "2130706433"; only the canonical form is accepted.
                throw .invalidURL("non-canonical IPv4 address (use \(host))")
            }
        }
        // Write back the normalized host and drop the fragment, then take curl's URL.
        guard parsed.set(.host, host), parsed.set(.fragment, nil), let url = parsed.get(.url)
        else { throw .invalidURL("cannot normalize \(string)") }

        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let addresses = IPAddress(bare).map { [$0.description] } ?? []
        return WebhookTarget(url: url, scheme: scheme, host: bare, port: port, addresses: addresses)
    }

    /// A DNS name: labels of letters, digits, '-' and '_', 1 to 63 bytes, at most 253 in all, and
    /// not ending in a numeric label (which resolvers may read as an IPv4 address: "127.1", "0x7f.1").
    static func checkHostName(_ host: String) throws(WebhookError) {
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard host.utf8.count <= 253, labels.allSatisfy({ (1...63).contains($0.utf8.count) }) else {
            throw .invalidURL("invalid host name \(host)")
        }
        for label in labels {
            guard label.utf8.allSatisfy({ isHostByte($0) }) else { throw .invalidURL("invalid host name \(host)") }
        }
        if let last = labels.last, last.utf8.allSatisfy({ isDigit($0) }) || last.hasPrefix("0x") {
            throw .invalidURL("\(host) is neither a host name nor a canonical IPv4 address")
        }
    }

    /// Whether `url` spells the IPv4 address `host` as is, right after "://".
    private static func isLiteral(_ host: String, writtenIn url: String) -> Bool {
        guard let start = url.utf8.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let authority = url.utf8[start...].dropFirst(3)
        guard authority.starts(with: host.utf8) else { return false }
        let next = authority.dropFirst(host.utf8.count).first
        return next == nil || next == UInt8(ascii: ":") || next == UInt8(ascii: "/") || next == UInt8(ascii: "?") || next == UInt8(ascii: "#")
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func isHostByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x2d || byte == 0x5f
    }
}
