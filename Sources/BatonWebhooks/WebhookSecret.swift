import Foundation

/// A Standard Webhooks secret: "whsec_" + base64 of the key bytes.
///
/// `description` is the secret itself (that is what a caller hands to the receiver), so do not log it.
public struct WebhookSecret: Sendable, CustomStringConvertible {
    static let prefix = "whsec_"
    /// The fewest key bytes accepted (the spec recommends 24 to 64).
    static let minimumKeyLength = 16

    /// The HMAC key.
    let key: [UInt8]

    /// Parses "whsec_<base64>".
    /// - Throws: `WebhookError.invalidSecret` without the prefix, with invalid base64 or fewer than 16 key bytes.
    public init(_ string: String) throws {
        guard string.hasPrefix(Self.prefix),
              let data = Data(base64Encoded: String(string.dropFirst(Self.prefix.count))),
              data.count >= Self.minimumKeyLength
        else { throw WebhookError.invalidSecret }
        key = Array(data)
    }

    init(key: [UInt8]) {
        self.key = key
    }

    /// A new secret of 32 random bytes (from `SystemRandomNumberGenerator`).
    public static func generate() -> WebhookSecret {
        var generator = SystemRandomNumberGenerator()
        return WebhookSecret(key: (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// "whsec_" + base64 of the key.
    public var description: String {
        Self.prefix + Data(key).base64EncodedString()
    }
}
