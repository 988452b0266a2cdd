import BatonObservability
import BatonTestSupport
@testable import BatonWorker
import Foundation
import Logging
import Testing

/// `JobLogger` without a server: a job's lines carry its id and trace id, added as a line is
/// written; a line below the level builds nothing and writes nothing.
@Suite("job logger")
struct JobLoggerTests {
    static let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    private func jobLogger(writingTo lines: WrittenLines, trace: TraceContext?) -> JobLogger {
        var base = Logger(label: "baton.worker") { label in JSONLogHandler(label: label, logLevel: .info, write: lines.append) }
        base[metadataKey: "service"] = "echo"
        return JobLogger(base: base, id: "job-1", trace: trace)
    }

    private func objects(_ lines: WrittenLines) throws -> [[String: String]] {
        try lines.all.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]) }
    }

    @Test func linesCarryTheJobAndItsTrace() throws {
        let lines = WrittenLines()
        let log = jobLogger(writingTo: lines, trace: TraceContext(traceparent: Self.traceparent))
        log.info("started", metadata: ["attempt": "1"])
        log.debug("below the level: not written")
        log.warning("handing it back")
        let written = try objects(lines)
        #expect(written.map { $0["message"] } == ["started", "handing it back"])
        for line in written {
            #expect(line["job"] == "job-1")
            #expect(line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
            #expect(line["service"] == "echo", "the worker's own metadata is kept")
        }
        #expect(written.first?["attempt"] == "1")
    }

    @Test func aHandlersLoggerNamesTheJob() throws {
        let lines = WrittenLines()
        let logger = jobLogger(writingTo: lines, trace: nil).logger
        logger.error("handler failed")
        let written = try objects(lines)
        #expect(written.count == 1)
        #expect(written.first?["job"] == "job-1")
        #expect(written.first?["trace_id"] == nil)
    }
}
