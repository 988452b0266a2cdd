import CNats
import Foundation
import NIOCore
import Testing

@testable import BatonNATS

/// A message built with its header block encoded by Baton (`natsMsg_create`) reads back in
/// nats.c exactly as one built with nats.c's own header calls: the same fields, values and
/// payload. nats.c parses the block here as it parses one that came over the wire.
@Suite("header block") struct HeaderBlockTests {
    /// The header fields nats.c reads from a C message, by name, in order within a name.
    private func read(_ msg: OpaquePointer) -> (fields: [String: [String]], message: NATSMessage) {
        let message = NATSMessage(copying: msg)
        natsMsg_Destroy(msg)
        return (Dictionary(grouping: message.headers.fields, by: \.name).mapValues { $0.map(\.value) }, message)
    }

    @Test(arguments: [
        NATSHeaders(dictionaryLiteral: ("Baton-Job-Id", "00cwpr111bkayqe9tk7atew22q"), ("Content-Type", "text/plain"), ("Baton-Created", "2026-12-03T17:00:00.000Z")),
        NATSHeaders(dictionaryLiteral: ("Nats-Msg-Id", "a"), ("Multi", "one"), ("Multi", "two"), ("Empty", ""), ("tracestate", "")),
        NATSHeaders(dictionaryLiteral: ("Line-Breaks", "a\r\nb\nc\rd"), ("Spaces", " padded value "), ("Unicode", "grüße ✓")),
    ])
    func readsBackAsNATSOwnHeaderCallsWriteIt(headers: NATSHeaders) throws {
        guard NATSMessage.headerBlockSupported else { return }  // a libnats without natsMsg_create
        for payload in ["", "hello baton", String(repeating: "x", count: 70_000)] {
            for replyTo in [nil, "_INBOX.abc.1"] as [String?] {
                let message = NATSMessage(subject: "baton.svc.echo", replyTo: replyTo, headers: headers, payload: ByteBuffer(string: payload))
                let block = read(try message.makeCMessageWithHeaderBlock())
                let fieldByField = read(try message.makeCMessageFieldByField())
                // nats.c's parser trims a value's surrounding spaces, as a receiver of the other
                // message would see them once it has crossed the wire.
                let received = fieldByField.fields.mapValues { $0.map { $0.trimmingCharacters(in: .whitespaces) } }
                #expect(block.fields == received)
                #expect(block.message.payload == fieldByField.message.payload)
                #expect(block.message.string == payload)
                #expect(block.message.subject == "baton.svc.echo")
                #expect(block.message.replyTo == replyTo)
            }
        }
    }

    @Test func writesEveryField() throws {
        guard NATSMessage.headerBlockSupported else { return }
        var headers = NATSHeaders()
        for i in 0..<12 { headers.add("Field-\(i)", "value \(i)") }
        let msg = try NATSMessage(subject: "s", headers: headers).makeCMessageWithHeaderBlock()
        defer { natsMsg_Destroy(msg) }
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>? = nil
        var count: Int32 = 0
        #expect(natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK)
        #expect(count == 12)
        free(keys)
        for i in 0..<12 {
            var value: UnsafePointer<CChar>? = nil
            #expect(natsMsgHeader_Get(msg, "Field-\(i)", &value) == NATS_OK)
            #expect(value.map { String(cString: $0) } == "value \(i)")
        }
    }

    @Test func refusesWhatWouldBreakTheBlock() {
        for name in ["", "Bad:Name", "Bad Name", "Bad\r\nName"] {
            let message = NATSMessage(subject: "s", headers: [name: "v"])
            #expect(throws: NATSError.self) { try message.makeCMessage() }
        }
        #expect(throws: NATSError.self) { try NATSMessage(subject: "", headers: ["A": "v"]).makeCMessage() }
        #expect(throws: NATSError.self) { try NATSMessage(subject: "s", replyTo: "", headers: ["A": "v"]).makeCMessage() }
    }
}
