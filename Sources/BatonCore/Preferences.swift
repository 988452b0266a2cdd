/// The preferences of an HTTP request (RFC 7240 `Prefer`) that Baton understands.
///
/// Names are case-insensitive; several `Prefer` fields and comma-separated lists are merged; the
/// first occurrence of a preference wins; unknown or malformed preferences are ignored, as the
/// RFC asks.
public struct Preferences: Sendable, Equatable {
    /// `respond-async`: answer `202` as soon as the job is accepted.
    public var respondAsync = false
    /// `wait=N`: how long (seconds) the client is willing to wait for the answer.
    public var wait: Int?
    /// `priority=high|normal|low` (Baton's own preference).
    public var priority: Priority?

    public init(respondAsync: Bool = false, wait: Int? = nil, priority: Priority? = nil) {
        self.respondAsync = respondAsync
        self.wait = wait
        self.priority = priority
    }

    /// Parses the values of every `Prefer` header field of a request.
    public init(headerValues: some Sequence<String>) {
        var seen = Set<String>()
        for field in headerValues {
            for item in Self.splitOutsideQuotes(field, separator: ",") {
                // A preference is `token [= value] *( ";" parameter )`; parameters are ignored.
                let preference = Self.splitOutsideQuotes(item, separator: ";").first ?? ""
                let parts = preference.split(separator: "=", maxSplits: 1).map { $0.trimmed }
                guard let rawName = parts.first, !rawName.isEmpty else { continue }
                let name = rawName.lowercased()
                guard seen.insert(name).inserted else { continue }
                let value = parts.count > 1 ? parts[1].unquoted : nil
                switch name {
                case "respond-async":
                    respondAsync = true
                case "wait":
                    if let value, let seconds = Int(value), seconds >= 0 { wait = seconds }
                case "priority":
                    if let value { priority = Priority(rawValue: value.lowercased()) }
                default:
                    continue
                }
            }
        }
    }

    private static func splitOutsideQuotes(_ text: String, separator: Character) -> [String] {
        var parts: [String] = []
        var current = ""
        var quoted = false
        for c in text {
            if c == "\"" { quoted.toggle() }
            if c == separator, !quoted {
                parts.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        parts.append(current)
        return parts.map(\.trimmed).filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }

    var unquoted: String {
        let s = trimmed
        if s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") { return String(s.dropFirst().dropLast()) }
        return s
    }
}
