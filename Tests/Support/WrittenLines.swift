import Synchronization

/// What a log handler under test writes, kept in memory: as a `TextOutputStream` (swift-log's
/// `StreamLogHandler`, `TextLogHandler`) or through `append` (a handler's `write` closure).
public final class WrittenLines: TextOutputStream, Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    public func write(_ string: String) { append(string) }

    public func append(_ line: String) { lines.withLock { $0.append(line) } }

    public var all: [String] { lines.withLock { $0 } }
}
