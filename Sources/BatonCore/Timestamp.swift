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
    /// small strings each. The calendar is computed here (`CivilDate`), not by `gmtime_r`,
    /// which takes glibc's global time-zone lock on every call.
    public var description: String {
        String(unsafeUninitializedCapacity: Self.textLength) { write(into: $0) }
    }

    /// The length of `description`, in bytes.
    static let textLength = 24

    /// Writes `description`'s bytes to the start of `text` (at least `textLength` bytes);
    /// returns how many (`textLength`). The JSON writer takes them from here without a string.
    func write(into text: UnsafeMutableBufferPointer<UInt8>) -> Int {
        // Floored, so that a time before 1970 has its milliseconds counted forward too.
        let (days, dayMilliseconds) = floorDivide(milliseconds, 86_400_000)
        let date = CivilDate(daysSince1970: days)
        let (seconds, milliseconds) = dayMilliseconds.quotientAndRemainder(dividingBy: 1000)
        var end = 0
        // `value` in `width` digits, zero-padded, then `separator`. A year outside
        // 0...9999 keeps its last four digits: not a date Baton writes.
        func put(_ value: Int64, _ width: Int, _ separator: Unicode.Scalar) {
            var value = abs(value)
            for i in stride(from: width - 1, through: 0, by: -1) {
                text[end + i] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            text[end + width] = UInt8(ascii: separator)
            end += width + 1
        }
        put(date.year, 4, "-")
        put(date.month, 2, "-")
        put(date.day, 2, "T")
        put(seconds / 3600, 2, ":")
        put(seconds / 60 % 60, 2, ":")
        put(seconds % 60, 2, ".")
        put(milliseconds, 3, "Z")
        return end
    }

    /// Parses what `description` writes (fractional seconds optional, `Z` only). Fields out of
    /// their range (month 13, hour 24, February 30) are not a time: nil.
    public init?(rfc3339 text: String) {
        var text = text
        guard let milliseconds = text.withUTF8({ Self.parse($0) }) else { return nil }
        self.init(milliseconds: milliseconds)
    }

    private static func parse(_ u: UnsafeBufferPointer<UInt8>) -> Int64? {
        func digit(_ c: UInt8) -> Int64? { c >= 48 && c <= 57 ? Int64(c - 48) : nil }
        func num(_ from: Int, _ count: Int) -> Int64? {
            var v: Int64 = 0
            for c in u[from..<(from + count)] {
                guard let d = digit(c) else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard u.count >= 20, u[u.count - 1] == UInt8(ascii: "Z"),
            u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: "t"),
            u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":"), u[19] == UInt8(ascii: ".") || u.count == 20,
            let year = num(0, 4), let month = num(5, 2), let day = num(8, 2),
            let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2),
            (1...12).contains(month), (1...CivilDate.days(inMonth: month, of: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction: Int64 = 0
        if u[19] == UInt8(ascii: ".") {
            // Milliseconds: the first three digits, the rest only checked to be digits.
            guard u.count > 21 else { return nil }
            var scale: Int64 = 100
            for c in u[20..<(u.count - 1)] {
                guard let d = digit(c) else { return nil }
                fraction += d * scale
                scale /= 10
            }
        }
        let days = CivilDate(year: year, month: month, day: day).daysSince1970
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + fraction
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

/// A day of the proleptic Gregorian calendar, to and from days since 1970-01-01 (Howard
/// Hinnant's `days_from_civil` and `civil_from_days`: eras of 400 years, years that start on
/// 1 March so that the leap day is the last of its year).
struct CivilDate {
    var year: Int64
    var month: Int64
    var day: Int64

    init(year: Int64, month: Int64, day: Int64) {
        (self.year, self.month, self.day) = (year, month, day)
    }

    init(daysSince1970 days: Int64) {
        let z = days + 719_468
        let (era, dayOfEra) = floorDivide(z, 146_097)
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // 0 = March
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    var daysSince1970: Int64 {
        let y = month <= 2 ? year - 1 : year
        let (era, yearOfEra) = floorDivide(y, 400)
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func days(inMonth month: Int64, of year: Int64) -> Int64 {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// `a / b` rounded down, and the remainder that goes with it (0 ≤ remainder < b, for b > 0):
/// a time or a day before 1970 counts forward from the start of its day or era, as one after.
private func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
    let (q, r) = a.quotientAndRemainder(dividingBy: b)
    return r < 0 ? (q - 1, r + b) : (q, r)
}
