import NIOCore
import Testing

@testable import BatonNATS

/// The publish acknowledgements nats-server writes (2.9 and 2.15 alike), scanned without
/// `JSONDecoder`; errors and odd shapes through it.
@Suite("publish ack") struct PublishAckTests {
    private func parse(_ text: String) throws -> PublishAck { try PublishAck(parsing: ByteBuffer(string: text)) }

    @Test func theCommonShapes() throws {
        #expect(try parse(#"{"stream":"BATON_JOBS","seq":123456}"#) == PublishAck(stream: "BATON_JOBS", sequence: 123_456, duplicate: false))
        #expect(try parse(#"{"stream":"KV_baton-jobs","seq":7,"duplicate": true}"#) == PublishAck(stream: "KV_baton-jobs", sequence: 7, duplicate: true))
        #expect(try parse(#"{"stream":"S","domain":"hub","seq":18446744073709551615}"#) == PublishAck(stream: "S", sequence: .max, duplicate: false))
        // Spaces after the colons: not the server's own shape, so JSONDecoder reads it.
        #expect(try parse(#"{"stream": "S", "seq": 9}"#) == PublishAck(stream: "S", sequence: 9, duplicate: false))
    }

    @Test func errorsThrow() {
        #expect {
            try parse(#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 4"},"stream":"S","seq":0}"#)
        } throws: { ($0 as? NATSError)?.kind == .wrongLastSequence }
        #expect(throws: (any Error).self) { try parse(#"{"stream":"S"}"#) }
        #expect(throws: (any Error).self) { try parse("") }
        #expect(throws: (any Error).self) { try parse(#"{"seq":"#) }
    }

    /// What ends a client's wait for a job's answer (`SentPublish.endsWait`): every reply that
    /// is not an acknowledgement of a stored message.
    @Test func failures() {
        func reply(_ text: String, status: Int? = nil) -> NATSMessage {
            var headers: NATSHeaders = [:]
            if let status { headers["Status"] = String(status) }
            return NATSMessage(subject: "_INBOX.x.1", replyTo: nil, headers: headers, payload: ByteBuffer(string: text))
        }
        #expect(!PublishAck.isFailure(reply(#"{"stream":"BATON_JOBS","seq":1}"#)))
        #expect(!PublishAck.isFailure(reply(#"{"stream":"BATON_JOBS","seq":1,"duplicate": true}"#)))
        #expect(PublishAck.isFailure(reply(#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"BATON_JOBS","seq":0}"#)))
        #expect(PublishAck.isFailure(reply("")))
        #expect(PublishAck.isFailure(reply("", status: 503)), "no responders: no stream takes the subject")
        #expect(PublishAck.isFailure(reply(#"{"stream":"S"}"#)))
    }
}
