import BatonObservability
import BatonTestSupport
import Foundation
import Logging
import Testing

/// `JSONLogHandler` writes one JSON object a line: the fixed fields first, then the metadata by
/// name, the event's own metadata over the logger's, an attached error as two fields.
@Suite("JSON log handler") struct JSONLogHandlerTests {
    struct Failure: Error, CustomStringConvertible { var description: String { "the disk is full" } }

    private func logger(writingTo lines: WrittenLines) -> Logger {
        Logger(label: "baton.test") { label in JSONLogHandler(label: label, logLevel: .info, write: lines.append) }
    }

    @Test func writesOneObjectALineWithTheFixedFieldsFirst() throws {
        let lines = WrittenLines()
        var log = logger(writingTo: lines)
        log[metadataKey: "job"] = "j-1"
        log[metadataKey: "b"] = "logger"
        log.warning("quote \" and\nnewline", metadata: ["b": "explicit", "a": "1"])
        log.debug("below the level: not written")
        let written = lines.all
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("}\n"))
        let keys = line.dropFirst().split(separator: ",").map { $0.prefix { $0 != ":" } }
        #expect(keys.prefix(4) == ["\"ts\"", "\"level\"", "\"label\"", "\"message\""])
        #expect(keys.dropFirst(4).map(String.init) == ["\"a\"", "\"b\"", "\"job\""])
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["level"] == "warning")
        #expect(object["label"] == "baton.test")
        #expect(object["message"] == "quote \" and\nnewline")
        #expect(object["b"] == "explicit")
        #expect(object["job"] == "j-1")
        #expect(object["ts"]?.hasSuffix("Z") == true)
    }

    @Test func anAttachedErrorIsWrittenAsTwoFields() throws {
        let lines = WrittenLines()
        logger(writingTo: lines).error("cannot write", error: Failure())
        let line = try #require(lines.all.first)
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["error.message"] == "the disk is full")
        #expect(object["error.type"]?.hasSuffix("Failure") == true)
    }
}
