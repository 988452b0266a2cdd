import BatonObservability
import BatonTestSupport
import Logging
import Testing

/// `TextLogHandler` writes what swift-log's `StreamLogHandler` writes, though it formats the
/// logger's metadata only for lines it writes.
@Suite("text log handler") struct TextLogHandlerTests {
    /// Without the leading timestamp (each handler reads the clock itself).
    private func withoutTime(_ lines: [String]) -> [String] {
        lines.map { String($0.drop { $0 != " " }) }
    }

    @Test func writesTheSameLinesAsStreamLogHandler() {
        let ours = WrittenLines(), theirs = WrittenLines()
        var text = Logger(label: "baton.test") { label in
            TextLogHandler(wrapping: StreamLogHandler(label: label, stream: ours, metadataProvider: nil), logLevel: .debug)
        }
        var stream = Logger(label: "baton.test") { label in
            var handler = StreamLogHandler(label: label, stream: theirs, metadataProvider: nil)
            handler.logLevel = .debug
            return handler
        }
        func exercise(_ logger: inout Logger) {
            logger.info("no metadata")
            logger[metadataKey: "request"] = "r-1"
            logger[metadataKey: "b"] = "2"
            logger.warning("logger metadata")
            logger.error("explicit wins", metadata: ["b": "3", "a": "1"])
            logger.debug("at debug")
            logger.trace("below the level: not written")
            logger[metadataKey: "request"] = nil
            logger.info("one removed", metadata: ["list": ["x", "y"]])
        }
        exercise(&text)
        exercise(&stream)
        #expect(ours.all.count == 5)
        #expect(withoutTime(ours.all) == withoutTime(theirs.all))
        #expect(ours.all[2].contains("a=1 b=3 request=r-1"), "\(ours.all[2])")
        #expect(text[metadataKey: "b"] == "2")
    }

    /// A logger whose metadata changes copies its handler: one that does not fit an
    /// existential's inline buffer costs a heap box per copy (Hummingbird's per-request id).
    @Test func fitsAnExistentialsInlineBuffer() {
        #expect(TextLogHandler.fitsInline)
        #expect(JSONLogHandler.fitsInline)
    }
}
