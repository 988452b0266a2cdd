import Foundation

/// A point in time, encoded as RFC 3339 with milliseconds (`2026-11-23T19:45:48.123Z`).
public struct Timestamp: Sendable, Codable, Equatable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970 (UTC).
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static var now: Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.milliseconds < b.milliseconds }

    public var date: Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), written into one string: every record, job header
    /// and answer carries a few of these, and the padded pieces of an interpolation were ~14
    /// small strings each.
    public var description: String {
        // Floored, so that a time before 1970 has its milliseconds counted forward too.
        let (quotient, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        var seconds = time_t(remainder < 0 ? quotient - 1 : quotient)
        let milliseconds = remainder < 0 ? remainder + 1000 : remainder
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(unsafeUninitializedCapacity: 24) { text in
            var end = 0
            // `value` in `width` digits, zero-padded, then `separator`. A year outside
            // 0...9999 keeps its last four digits: not a date Baton writes.
            func put(_ value: some BinaryInteger, _ width: Int, _ separator: Unicode.Scalar) {
                var value = abs(Int(value))
                for i in stride(from: width - 1, through: 0, by: -1) {
                    text[end + i] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                text[end + width] = UInt8(ascii: separator)
                end += width + 1
            }
            put(parts.tm_year + 1900, 4, "-")
            put(parts.tm_mon + 1, 2, "-")
            put(parts.tm_mday, 2, "T")
            put(parts.tm_hour, 2, ":")
            put(parts.tm_min, 2, ":")
            put(parts.tm_sec, 2, ".")
            put(milliseconds, 3, "Z")
            return end
        }
    }

    /// Parses what `description` writes (fractional seconds optional, `Z` only).
    public init?(rfc3339 text: String) {
        let u = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int32? {
            guard from + count <= u.count else { return nil }
            var v: Int32 = 0
            for c in u[from..<(from + count)] {
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int32(c - 48)
            }
            return v
        }
        guard u.count >= 20, let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2),
            let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2), u.last == UInt8(ascii: "Z"),
            u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: "t"),
            u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":"), u[19] == UInt8(ascii: ".") || u.count == 20
        else { return nil }
        var ms: Int64 = 0
        if u[19] == UInt8(ascii: ".") {
            let digits = u[20..<(u.count - 1)]
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            let firstThree = Array(digits.prefix(3)) + Array(repeating: UInt8(48), count: max(0, 3 - digits.count))
            ms = firstThree.reduce(0) { $0 * 10 + Int64($1 - 48) }
        }
        var parts = tm()
        parts.tm_year = y - 1900
        parts.tm_mon = mo - 1
        parts.tm_mday = d
        parts.tm_hour = h
        parts.tm_min = mi
        parts.tm_sec = s
        let seconds = timegm(&parts)
        self.init(milliseconds: Int64(seconds) * 1000 + ms)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 UTC timestamp: \(text)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public func adding(_ duration: Duration) -> Timestamp {
        Timestamp(milliseconds: milliseconds + duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}
