/// Which webhook targets are allowed: http/https URLs only; hosts that are (or resolve to)
/// loopback, link-local, private (RFC 1918, 100.64/10 CGNAT, fc00::/7, fe80::/10, ::1, 0.0.0.0/8,
/// ::, multicast, IPv4-mapped IPv6 of those) are refused unless allowed.
///
/// Also refused: the other IANA special-purpose ranges a webhook has no business reaching
/// (192.0.0.0/24, 198.18.0.0/15 benchmarking, 240.0.0.0/4 reserved and broadcast, fec0::/10),
/// and the names "localhost" and "*.localhost" (RFC 6761) unless allowed by name.
/// An IPv6 address that embeds an IPv4 one (::ffff:a.b.c.d, 64:ff9b::a.b.c.d, ::a.b.c.d) is judged
/// by its IPv4 address too.
public struct WebhookPolicy: Sendable {
    /// Ranges allowed even though refused by default.
    let allowedRanges: [CIDR]
    /// Host names (lowercase, without a trailing dot) allowed whatever they resolve to.
    let allowedNames: Set<String>

    /// The refused ranges, with what they are.
    static let refusedRanges: [(range: CIDR, name: String)] = [
        ("0.0.0.0/8", "\"this network\""), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"), ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"), ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"), ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"), ("::1/128", "loopback"), ("fc00::/7", "unique local"),
        ("fe80::/10", "link-local"), ("fec0::/10", "site-local"), ("ff00::/8", "multicast"),
    ].compactMap { entry in CIDR(entry.0).map { (range: $0, name: entry.1) } }

    /// What `baton dev` allows: loopback addresses and "localhost".
    public static let loopback: [String] = ["127.0.0.0/8", "::1/128", "localhost"]

    /// allow: CIDRs ("127.0.0.0/8", "::1/128", "10.0.0.0/8"), IP addresses, or host names
    /// ("localhost", "hooks.internal") that are allowed even though private. A host name allowed
    /// here may resolve to any address.
    /// - Throws: `WebhookError.invalidAllowEntry` for an entry that is none of these.
    public init(allow: [String]) throws {
        var ranges: [CIDR] = []
        var names: Set<String> = []
        for entry in allow {
            let trimmed = entry.trimmingWhitespace.lowercased()
            if let range = CIDR(trimmed) {
                ranges.append(range)
                continue
            }
            var name = trimmed
            while name.hasSuffix(".") { name.removeLast() }
            guard !trimmed.contains("/"), !name.isEmpty, (try? TargetURLParser.checkHostName(name)) != nil else {
                throw WebhookError.invalidAllowEntry(entry)
            }
            names.insert(name)
        }
        allowedRanges = ranges
        allowedNames = names
    }

    /// Syntax and scheme only, no DNS (fast; for submit time).
    ///
    /// The returned target has `addresses` set when the host is an IP literal, empty otherwise.
    /// - Throws: `WebhookError.invalidURL(reason)` / `.unsupportedScheme(String)` / `.refusedTarget(reason)`
    ///   when the host is an IP literal in a refused range or a refused name like "localhost" that is not allowed.
    public func checkSyntax(_ url: String) throws -> WebhookTarget {
        let target = try TargetURLParser.parse(url)
        if let address = target.ipLiteral {
            if let reason = refusal(of: address) { throw WebhookError.refusedTarget(reason) }
        } else if !allowedNames.contains(target.host), Self.isLocalhostName(target.host) {
            throw WebhookError.refusedTarget("\(target.host) is a loopback name")
        }
        return target
    }

    /// `checkSyntax` + DNS resolution (getaddrinfo on `NIOThreadPool.singleton`, never on the
    /// caller's thread) + every resolved address checked. Returns the target with the resolved
    /// addresses, which `WebhookClient` pins (CURLOPT_RESOLVE) and connects to exclusively, so
    /// that DNS rebinding cannot move a delivery to a refused address.
    /// - Throws: what `checkSyntax` throws, `.refusedTarget` when any resolved address is refused,
    ///   `.unresolvableHost` when the name does not resolve.
    public func resolve(_ url: String) async throws -> WebhookTarget {
        var target = try checkSyntax(url)
        guard target.ipLiteral == nil else { return target }
        let addresses = try await HostResolver.resolve(target.host)
        if !allowedNames.contains(target.host) {
            for address in addresses {
                if let reason = refusal(of: address) {
                    throw WebhookError.refusedTarget("\(target.host) resolves to \(reason)")
                }
            }
        }
        target.addresses = addresses.map(\.description)
        return target
    }

    /// Why `address` is refused, or nil when it may be reached.
    func refusal(of address: IPAddress) -> String? {
        let candidates = [address] + (address.embeddedIPv4.map { [$0] } ?? [])
        if candidates.contains(where: { candidate in allowedRanges.contains { $0.contains(candidate) } }) { return nil }
        for candidate in candidates {
            if let refused = Self.refusedRanges.first(where: { $0.range.contains(candidate) }) {
                return "\(address) is a \(refused.name) address (\(refused.range))"
            }
        }
        return nil
    }

    static func isLocalhostName(_ host: String) -> Bool {
        host == "localhost" || host.hasSuffix(".localhost")
    }
}
