import BatonCore
import Crypto
import Foundation

/// API keys: who may call, and at what rate.
///
/// The file (`--api-keys FILE`) or `BATON_API_KEYS` holds one key a line (or comma-separated in
/// the variable), in either form:
///
/// - `name:secret[:rate]`: the secret itself (at least 16 characters);
/// - `name:sha256:<64 hex digits>[:rate]`: the SHA-256 of the secret (`baton keys hash`), so the
///   file does not reveal it.
///
/// `name` is who the key belongs to: it owns the jobs it creates. A name may have several lines
/// (two secrets while clients move from the old to the new one): each authenticates as the name,
/// so the jobs of either stay visible to both, and they share one rate limit. `rate` is an
/// optional requests/second limit (token bucket, burst 2×rate) that overrides `--rate-limit`;
/// the lines of one name that give a rate must agree. `#` starts a comment.
///
/// Only digests are kept, and a presented secret is found by comparing its digest with every
/// entry's in constant time (no early exit), so neither the file's form nor the answer time tells
/// anything about a stored secret.
public struct APIKeys: Sendable {
    public struct Key: Sendable, Equatable {
        public var name: String
        /// Requests per second; nil: unlimited.
        public var rate: Double?
    }

    private struct Entry: Sendable {
        var digest: [UInt8]
        var name: String
    }

    private let entries: [Entry]
    /// Name → its key (rate).
    private let keys: [String: Key]

    public var isEmpty: Bool { entries.isEmpty }
    /// Secrets (a name being rotated has two).
    public var count: Int { entries.count }
    /// The names keys belong to.
    public var names: Set<String> { Set(keys.keys) }

    /// The shortest plaintext secret accepted (and hashed by `baton keys hash`).
    public static let minimumSecretLength = 16
    /// The prefix of a hashed secret in the key file.
    public static let digestPrefix = "sha256:"

    public init(parsing text: String, defaultRate: Double? = nil) throws {
        var entries: [Entry] = []
        var owners: [[UInt8]: String] = [:]
        var rates: [String: Double] = [:]
        var names: [String] = []
        for (index, raw) in text.split(whereSeparator: { $0 == "\n" || $0 == "," }).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.isEmpty { continue }
            let entry = try Self.entry(line, number: index + 1)
            if let owner = owners[entry.digest], owner != entry.name {
                throw APIKeysError("entry \(index + 1): the same secret is already the key of \(owner)")
            }
            owners[entry.digest] = entry.name
            if let rate = entry.rate {
                if let other = rates[entry.name], other != rate {
                    throw APIKeysError("entry \(index + 1): \(entry.name) has two rates, \(Self.format(other)) and \(Self.format(rate)); its lines must agree")
                }
                rates[entry.name] = rate
            }
            if !names.contains(entry.name) { names.append(entry.name) }
            entries.append(Entry(digest: entry.digest, name: entry.name))
        }
        self.entries = entries
        self.keys = Dictionary(uniqueKeysWithValues: names.map { ($0, Key(name: $0, rate: rates[$0] ?? defaultRate)) })
    }

    public static func load(file: String?, environment: String?, defaultRate: Double?) throws -> APIKeys? {
        var text = environment ?? ""
        if let file {
            guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else { throw APIKeysError("cannot read \(file)") }
            text += "\n" + contents
        }
        let keys = try APIKeys(parsing: text, defaultRate: defaultRate)
        return keys.isEmpty ? nil : keys
    }

    /// The key whose secret this is, if any. Every entry is compared, whatever matches.
    func key(for secret: String) -> Key? {
        let digest = Self.digest(secret)
        var found: String?
        for entry in entries where Self.constantTimeEqual(entry.digest, digest) {
            found = entry.name
        }
        return found.flatMap { keys[$0] }
    }

    /// `sha256:<hex>`, the form of a hashed secret in the key file.
    public static func hashed(_ secret: String) -> String {
        digestPrefix + digest(secret).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func digest(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Whether two digests are equal, looking at every byte whatever the first difference.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// One line: `name:secret[:rate]` or `name:sha256:<hex>[:rate]`.
    private static func entry(_ line: String, number: Int) throws -> (name: String, digest: [UInt8], rate: Double?) {
        var parts = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let expected = "expected name:secret[:rate] or name:sha256:<64 hex digits>[:rate], with a name of letters, digits, '_' or '-' and a secret of at least \(minimumSecretLength) characters"
        guard parts.count >= 2, ServiceName.isValid(parts[0]) else { throw APIKeysError("entry \(number): \(expected)") }
        let name = parts.removeFirst()
        let digest: [UInt8]
        if parts[0] == "sha256" {
            guard parts.count >= 2, let bytes = hexBytes(parts[1]), bytes.count == 32 else {
                throw APIKeysError("entry \(number): a hashed secret is sha256: and 64 hex digits (baton keys hash prints it)")
            }
            digest = bytes
            parts.removeFirst(2)
        } else {
            guard parts[0].count >= minimumSecretLength else { throw APIKeysError("entry \(number): \(expected)") }
            digest = Self.digest(parts[0])
            parts.removeFirst()
        }
        guard parts.count <= 1 else { throw APIKeysError("entry \(number): \(expected)") }
        guard let text = parts.first else { return (name, digest, nil) }
        guard let rate = Double(text), rate > 0, rate.isFinite else { throw APIKeysError("entry \(number): rate must be a positive number") }
        return (name, digest, rate)
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A rate as the key file writes it: `50`, `0.5`.
    public static func format(_ rate: Double) -> String {
        rate == rate.rounded() && rate.magnitude < 1e15 ? String(Int(rate)) : String(rate)
    }
}

public struct APIKeysError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
