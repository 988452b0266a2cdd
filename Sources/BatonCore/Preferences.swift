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
    ///
    /// Over the fields' bytes, without a `String` per item: every `respond-async` accept parses
    /// one (it took ~2% of the gateway's CPU an accept as a split into strings; bench/NOTES.md).
    public init(headerValues: some Sequence<String>) {
        var seen = Seen()
        for var field in headerValues {
            field.withUTF8 { bytes in
                // Items are comma-separated; a comma inside a quoted string separates nothing.
                var start = 0
                var quoted = false
                for index in 0...bytes.count {
                    if index < bytes.count {
                        if bytes[index] == Self.quote { quoted.toggle() }
                        guard bytes[index] == Self.comma, !quoted else { continue }
                    }
                    parseItem(bytes[start..<index], seen: &seen)
                    start = index + 1
                }
            }
        }
    }

    /// One item: `token [= value] *( ";" parameter )`; parameters are ignored.
    private mutating func parseItem(_ item: Slice<UnsafeBufferPointer<UInt8>>, seen: inout Seen) {
        var end = item.endIndex
        var quoted = false
        for index in item.indices {
            if item[index] == Self.quote { quoted.toggle() }
            if item[index] == Self.semicolon, !quoted {
                end = index
                break
            }
        }
        let preference = Self.trimmed(item[item.startIndex..<end])
        let equals = preference.firstIndex(of: Self.equals) ?? preference.endIndex
        let name = Self.trimmed(preference[preference.startIndex..<equals])
        guard !name.isEmpty else { return }
        let value = equals < preference.endIndex ? Self.unquoted(preference[(equals + 1)...]) : nil
        switch Name(name) {
        case .respondAsync?:
            guard seen.insert(.respondAsync) else { return }
            respondAsync = true
        case .wait?:
            guard seen.insert(.wait) else { return }
            if let value, let seconds = Int(String(decoding: value, as: UTF8.self)), seconds >= 0 { wait = seconds }
        case .priority?:
            guard seen.insert(.priority) else { return }
            if let value { priority = Priority(rawValue: String(decoding: value, as: UTF8.self).lowercased()) }
        case nil:
            return
        }
    }

    /// The preferences Baton reads, by name (case-insensitive).
    private enum Name: UInt8 {
        case respondAsync = 1, wait = 2, priority = 4

        init?(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) {
            if Self.matches(bytes, "respond-async") {
                self = .respondAsync
            } else if Self.matches(bytes, "wait") {
                self = .wait
            } else if Self.matches(bytes, "priority") {
                self = .priority
            } else {
                return nil
            }
        }

        /// ASCII case-insensitive equality with a lowercase name.
        private static func matches(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, _ name: StaticString) -> Bool {
            guard bytes.count == name.utf8CodeUnitCount else { return false }
            return zip(bytes, UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)).allSatisfy { byte, lower in
                (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte) == lower
            }
        }
    }

    /// The first occurrence of a preference wins: the ones seen so far.
    private struct Seen {
        private var names: UInt8 = 0

        /// True the first time `name` is inserted.
        mutating func insert(_ name: Name) -> Bool {
            defer { names |= name.rawValue }
            return names & name.rawValue == 0
        }
    }

    private static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), semicolon = UInt8(ascii: ";")
    private static let equals = UInt8(ascii: "=")

    /// Without leading and trailing spaces and tabs (HTTP's optional white space).
    private static func trimmed(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            return bytes[bytes.startIndex..<bytes.startIndex]
        }
        return bytes[first...last]
    }

    /// A value without its surrounding quotes, if it has them.
    private static func unquoted(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
        let value = trimmed(bytes)
        guard value.count >= 2, value.first == quote, value.last == quote else { return value }
        return value.dropFirst().dropLast()
    }
}
