/// Why a webhook secret, target, allow entry or retry schedule was not accepted.
public enum WebhookError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The secret is not "whsec_" followed by the base64 of at least 16 key bytes.
    case invalidSecret
    /// The URL cannot be parsed, or has parts a webhook target must not have (user info, ...).
    case invalidURL(String)
    /// The URL's scheme is not http or https.
    case unsupportedScheme(String)
    /// The target host is, or resolves to, an address the policy refuses (loopback, private, ...).
    case refusedTarget(String)
    /// An allow-list entry is neither a CIDR, an IP address nor a host name.
    case invalidAllowEntry(String)
    /// A retry schedule does not parse.
    case invalidSchedule(String)
    /// The target host name does not resolve (DNS failure). Unlike `refusedTarget`, this may be
    /// temporary: a delivery may be retried.
    case unresolvableHost(String)

    public var description: String {
        switch self {
        case .invalidSecret: "invalid webhook secret: expected \"whsec_\" followed by base64 of at least 16 bytes"
        case .invalidURL(let reason): "invalid webhook URL: \(reason)"
        case .unsupportedScheme(let scheme): "unsupported webhook URL scheme \"\(scheme)\": use http or https"
        case .refusedTarget(let reason): "refused webhook target: \(reason)"
        case .invalidAllowEntry(let entry): "invalid webhook allow entry \"\(entry)\": expected a CIDR, an IP address or a host name"
        case .invalidSchedule(let reason): "invalid retry schedule: \(reason)"
        case .unresolvableHost(let reason): "cannot resolve webhook host: \(reason)"
        }
    }
}
