/// Job ids: 128 random bits in 26 characters of Crockford's base32 (lowercase), unguessable and
/// safe in NATS subjects, KV keys and URLs.
public enum JobID {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    public static func make() -> String {
        var words: (high: UInt64, low: UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { RandomBytes.fill($0) }
        let (high, low) = words
        // Written straight into the string's storage: one allocation per id.
        return String(unsafeUninitializedCapacity: 26) { bytes in
            // 130 bits of output: the two top bits of the first character are always zero.
            var value = (high: high, low: low)
            for i in stride(from: 25, through: 0, by: -1) {
                bytes[i] = alphabet[Int(value.low & 31)]
                value.low = (value.low >> 5) | (value.high << 59)
                value.high >>= 5
            }
            return 26
        }
    }

    /// True for a string `make()` could have produced.
    /// Inlinable: specialized where it is called (generic, it was ~2% of a worker's CPU).
    @inlinable public static func isValid(_ id: some StringProtocol) -> Bool {
        // The alphabet as ranges: digits, and lowercase letters but i, l, o and u.
        id.utf8.count == 26
            && id.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A && c != 0x69 && c != 0x6C && c != 0x6F && c != 0x75)
            }
    }
}

/// Service names: letters, digits, `_` and `-`, 1–64 characters (they become NATS subject
/// tokens and NATS micro service names).
public enum ServiceName {
    @inlinable public static func isValid(_ name: some StringProtocol) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
            }
    }
}
