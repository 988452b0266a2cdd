import Crypto
import Foundation

/// Signs per https://www.standardwebhooks.com: base64(HMAC-SHA256(key, "\(id).\(timestamp).\(body)")).
public struct WebhookSigner: Sendable {
    private let key: SymmetricKey

    public init(secret: WebhookSecret) {
        key = SymmetricKey(data: secret.key)
    }

    /// The signed content: "<id>.<timestamp>.<body>".
    private func content(id: String, timestamp: Int, body: [UInt8]) -> [UInt8] {
        Array("\(id).\(timestamp).".utf8) + body
    }

    /// The `webhook-signature` value for one delivery: "v1,<base64>".
    public func signature(id: String, timestamp: Int, body: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: content(id: id, timestamp: timestamp, body: body), using: key)
        return "v1," + Data(mac).base64EncodedString()
    }

    /// Checks a `webhook-signature` header value (space-separated list of "v1,<sig>") and the timestamp tolerance.
    ///
    /// True when `timestamp` is within `tolerance` seconds of `now` (either way) and at least one
    /// "v1" signature in the list matches (compared in constant time). Other versions are ignored.
    public func verify(
        id: String, timestamp: Int, body: [UInt8], signatureHeader: String,
        now: Int = Int(Date().timeIntervalSince1970), tolerance: Int = 300
    ) -> Bool {
        guard abs(now - timestamp) <= tolerance else { return false }
        let content = content(id: id, timestamp: timestamp, body: body)
        for entry in signatureHeader.split(separator: " ", omittingEmptySubsequences: true) {
            let parts = entry.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "v1", let signature = Data(base64Encoded: String(parts[1])) else { continue }
            if HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: content, using: key) { return true }
        }
        return false
    }

    /// The three headers of a delivery: webhook-id, webhook-timestamp, webhook-signature.
    public func headers(id: String, timestamp: Int, body: [UInt8]) -> [(name: String, value: String)] {
        [
            (name: "webhook-id", value: id),
            (name: "webhook-timestamp", value: String(timestamp)),
            (name: "webhook-signature", value: signature(id: id, timestamp: timestamp, body: body)),
        ]
    }
}
