import BatonCore
import Foundation
import Logging

/// A swift-log handler writing one JSON object a line to stderr:
/// `{"ts":"…","level":"info","label":"baton.gateway","message":"…","job":"…","trace_id":"…"}`.
///
/// Three words at most (`fitsInline`), its label and writer behind a reference: a logger whose
/// metadata changes copies its handler, and a larger one lives in a heap box of its own — one
/// allocation more on each request's logger.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let output: Output

    private final class Output: Sendable {
        let label: String
        let write: @Sendable (String) -> Void
        init(label: String, write: @escaping @Sendable (String) -> Void) {
            self.label = label
            self.write = write
        }
    }

    private var label: String { output.label }

    /// True when the handler fits in an existential's inline buffer (three words).
    public static var fitsInline: Bool { MemoryLayout<JSONLogHandler>.size <= 3 * MemoryLayout<Int>.size }

    public init(label: String, logLevel: Logger.Level = .info) {
        self.init(label: label, logLevel: logLevel) { line in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// Writes each line through `write` (tests read the lines).
    public init(label: String, logLevel: Logger.Level = .info, write: @escaping @Sendable (String) -> Void) {
        self.output = Output(label: label, write: write)
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The event's own metadata wins over the logger's; an error attached to the event is written
    /// as `error.message` and `error.type`, as swift-log's `StreamLogHandler` does.
    public func log(event: LogEvent) {
        var fields: [String: String] = [
            "ts": Self.now(), "level": event.level.rawValue, "label": label, "message": event.message.description,
        ]
        for (key, value) in self.metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) where fields[key] == nil {
            fields[key] = value.description
        }
        if let error = event.error {
            fields["error.message"] = "\(error)"
            fields["error.type"] = String(reflecting: type(of: error))
        }
        var line = "{"
        for (index, key) in fields.keys.sorted(by: Self.order).enumerated() {
            if index > 0 { line += "," }
            line += Self.quote(key) + ":" + Self.quote(fields[key] ?? "")
        }
        line += "}\n"
        output.write(line)
    }

    /// The keys every line starts with, in this order.
    private static let leading = ["ts": 0, "level": 1, "label": 2, "message": 3]

    /// `ts`, `level`, `label`, `message` first, then the metadata by name.
    private static func order(_ a: String, _ b: String) -> Bool {
        switch (leading[a], leading[b]) {
        case (let x?, let y?): return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a < b
        }
    }

    private static func now() -> String { Timestamp.now.description }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
