/// When to retry a failed delivery: the delay after attempt n (1-based), with ±10% jitter; nil when no attempts are left.
///
/// Written as a comma-separated list of durations with a unit each (`ms`, `s`, `m`, `h`), e.g.
/// "5s,5m,30m,2h" or "100ms,200ms"; "none" (or "") is a schedule without retries.
public struct RetrySchedule: Sendable, Equatable, CustomStringConvertible {
    /// The Standard Webhooks schedule: 5s, 5m, 30m, 2h, 5h, 10h, 10h (8 attempts in all).
    public static let standard = RetrySchedule(delays: [
        .seconds(5), .seconds(5 * 60), .seconds(30 * 60), .seconds(2 * 3600),
        .seconds(5 * 3600), .seconds(10 * 3600), .seconds(10 * 3600),
    ])

    /// The delay before retry n (delays[0] follows the first attempt). Negative delays count as zero.
    public var delays: [Duration]

    public init(delays: [Duration]) {
        self.delays = delays
    }

    private static let units: [(suffix: String, duration: Duration)] = [
        ("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600)),
    ]

    /// Parses "5s,5m,30m,2h" or "100ms,200ms" (units ms s m h; spaces around entries are ignored).
    /// - Throws: `WebhookError.invalidSchedule` for an entry without a known unit or a whole number.
    public init(parsing string: String) throws {
        let trimmed = string.trimmingWhitespace
        guard !trimmed.isEmpty, trimmed != "none" else {
            self.init(delays: [])
            return
        }
        var delays: [Duration] = []
        for rawEntry in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = String(rawEntry).trimmingWhitespace
            let digits = entry.prefix { $0.isASCII && $0.isNumber }
            let suffix = entry.dropFirst(digits.count)
            guard !digits.isEmpty, digits.count <= 9, let value = Int(digits),
                  let unit = Self.units.first(where: { $0.suffix == suffix })
            else { throw WebhookError.invalidSchedule("\"\(entry)\" is not a whole number followed by ms, s, m or h") }
            delays.append(unit.duration * value)
        }
        self.init(delays: delays)
    }

    /// How many attempts a delivery gets: the first one and one per delay.
    public var maxAttempts: Int { delays.count + 1 }

    /// The delay after attempt `attempt` (1-based) with ±10% jitter, or nil when no attempts are left.
    public func delay(afterAttempt attempt: Int) -> Duration? {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }

    /// `delay(afterAttempt:)` with the jitter drawn from `generator` (for reproducible tests).
    public func delay<G: RandomNumberGenerator>(afterAttempt attempt: Int, using generator: inout G) -> Duration? {
        guard attempt >= 1, attempt <= delays.count else { return nil }
        let base = max(delays[attempt - 1], .zero)
        return base * Double.random(in: 0.9...1.1, using: &generator)
    }

    /// The schedule as `init(parsing:)` reads it, each delay in the largest unit that divides it
    /// ("none" for no retries). Sub-millisecond parts are rounded to whole milliseconds.
    public var description: String {
        guard !delays.isEmpty else { return "none" }
        return delays.map(Self.format).joined(separator: ",")
    }

    private static func format(_ delay: Duration) -> String {
        let (seconds, attoseconds) = max(delay, .zero).components
        let milliseconds = seconds * 1000 + Int64((Double(attoseconds) / 1e15).rounded())
        if milliseconds == 0 { return "0s" }
        for unit in units.reversed() {
            let (unitSeconds, unitAttoseconds) = unit.duration.components
            let unitMilliseconds = unitSeconds * 1000 + unitAttoseconds / 1_000_000_000_000_000
            if milliseconds % unitMilliseconds == 0 { return "\(milliseconds / unitMilliseconds)\(unit.suffix)" }
        }
        return "\(milliseconds)ms"
    }
}

extension String {
    /// Without leading and trailing spaces, tabs, CRs and LFs.
    var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
