import CNats
import Foundation
import NIOCore
import Testing

@testable import BatonNATS

/// The values of each field name, in order within a name (nats.c reports names in its hash's
/// order).
private func byName(_ headers: NATSHeaders) -> [String: [String]] {
    Dictionary(grouping: headers.fields, by: \.name).mapValues { $0.map(\.value) }
}

/// A message built with its header block encoded by Baton (`natsMsg_create`) reads back in
/// nats.c exactly as one built with nats.c's own header calls: the same fields, values and
/// payload. nats.c parses the block here as it parses one that came over the wire.
@Suite("header block") struct HeaderBlockTests {
    /// Look-ups ignore ASCII case, and only ASCII case: names of one length that differ
    /// anywhere are different names.
    @Test func namesAreComparedIgnoringASCIICase() {
        var headers = NATSHeaders(minimumCapacity: 4)
        headers.add("Baton-Status", "200")
        headers.add("baton-worker", "w-1")
        headers.add("Baton-Job-Id", "j1")
        #expect(headers["baton-status"] == "200")
        #expect(headers["BATON-WORKER"] == "w-1")
        #expect(headers["Baton-Job-Id"] == "j1")
        #expect(headers["Baton-Job-Ix"] == nil)
        #expect(headers["Baton-Statu"] == nil)
        #expect(headers["Baton_Status"] == nil)
        #expect("grüße".caseInsensitiveEquals("GRüSSE") == false)
        #expect("Ünï".caseInsensitiveEquals("Ünï"))
        headers["BATON-STATUS"] = "404"  // replaces the field of that name, whatever its case
        #expect(headers.fields.filter { $0.name.caseInsensitiveEquals("baton-status") }.map(\.value) == ["404"])
    }

    /// The header fields nats.c reads from a C message, by name, in order within a name.
    private func read(_ msg: OpaquePointer) -> (fields: [String: [String]], message: NATSMessage) {
        let message = NATSMessage(copying: msg)
        natsMsg_Destroy(msg)
        return (byName(message.headers), message)
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

/// `HeaderBlock` reads a received block by nats.c's own rules: for each block below, the fields
/// it finds are those nats.c's header calls find in a message that carries the block, and it
/// refuses what nats.c refuses.
@Suite("header block parsing") struct HeaderBlockParsingTests {
    static let blocks = [
        "NATS/1.0\r\nA: b\r\n\r\n",
        "NATS/1.0 503\r\n\r\n",
        "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 0\r\n\r\n",
        "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 12\r\nNats-Last-Stream: 34\r\n\r\n",
        "NATS/1.0 409 Consumer Deleted  \r\n\r\n",
        "NATS/1.0\r\nA: 1\r\nA: 2\r\nB:    spaced   \r\n\r\n",
        "NATS/1.0\r\nA: one\r\n  two\r\nB: x\r\n\tthree\r\n\r\n",
        "NATS/1.0\r\nA:\tv\t\r\n\r\n",
        "NATS/1.0\r\nA:\r\nB: v\r\n\r\n",
        "NATS/1.0 404 No Messages\r\nStatus: x\r\nDescription: y\r\n\r\n",
        "NATS/1.0 12\r\n\r\n",
        "NATS/1.0   200   \r\nC: d\r\n\r\n",
        "NATS/1.0\r\nUnicode: grüße ✓\r\nColon: a:b:c\r\n\r\n",
        "NATS/1.0\r\nNats-Msg-Id: x\r\n",
        // Refused by nats.c:
        "NATS/1.0\r\nNoColon\r\n\r\n",
        "NATS/1.0\r\n  folded first\r\n\r\n",
        "NATS/1.0\r\nA: v\r\n\rX",
        "NATS/1.1\r\nA: v\r\n\r\n",
        "NATS/1.0",
        "NATS/1.0\r\nA:   ",
        "NATS/1.0\r\nA: no end",
    ]

    /// A message carrying `block` before a payload, as the reading thread makes one.
    private func message(_ block: String) throws -> OpaquePointer {
        let bytes = Array((block + "payload").utf8)
        var msg: OpaquePointer? = nil
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                natsMsg_create(&msg, "s", 1, nil, 0, $0.baseAddress, Int32(bytes.count), Int32(block.utf8.count))
            }
        }
        try #require(status == NATS_OK)
        return try #require(msg)
    }

    @Test(arguments: blocks)
    func readsWhatNATSReads(block: String) throws {
        guard NATSMessage.headerBlockSupported else { return }
        var text = block
        let ours = text.withUTF8 { HeaderBlock.parse(UnsafeRawBufferPointer($0)) }
        let msg = try message(block)
        defer { natsMsg_Destroy(msg) }
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>? = nil
        var count: Int32 = 0
        let status = natsMsgHeader_Keys(msg, &keys, &count)
        free(keys)
        if status == NATS_OK || status == NATS_NOT_FOUND {
            let theirs = NATSMessage.headersFieldByField(of: msg)
            #expect(ours.map(byName) == byName(theirs), "\(block.debugDescription)")
        } else {
            #expect(ours == nil, "nats.c refuses \(block.debugDescription) (\(status))")
        }
    }

    @Test func receivedMessagesReadTheirBlockWhetherOrNotNATSHasParsedIt() throws {
        guard NATSMessage.headerBlockSupported else { return }
        let block = "NATS/1.0 408 Request Timeout\r\nA: 1\r\nA: 2\r\n\r\n"
        let pristine = try message(block)
        defer { natsMsg_Destroy(pristine) }
        let parsed = try message(block)
        defer { natsMsg_Destroy(parsed) }
        var value: UnsafePointer<CChar>? = nil
        #expect(natsMsgHeader_Get(parsed, "A", &value) == NATS_OK)  // nats.c parses it in place
        let expected = ["Status": ["408"], "Description": ["Request Timeout"], "A": ["1", "2"]]
        #expect(byName(NATSMessage(copying: pristine).headers) == expected)
        #expect(byName(NATSMessage(copying: parsed).headers) == expected)
        #expect(NATSMessage(copying: pristine).string == "payload")
    }

    @Test func storedHeaderBlocks() {
        let headers = NATSHeaders(headerBlock: "NATS/1.0\r\nBaton-State: succeeded\r\nContent-Type: text/plain\r\n\r\n")
        #expect(headers["Baton-State"] == "succeeded")
        #expect(headers.fields.map(\.name) == ["Baton-State", "Content-Type"])
        #expect(NATSHeaders(headerBlock: "garbage").isEmpty)
    }
}

/// A message Baton is done with is freed on the spot (`NATSMessage.destroy`), not handed to
/// nats.c's collector thread, which a destroy would wake (one context switch per message under
/// load). Seen in glibc's count of mapped memory: a 40 MB message is one mapped block (above
/// glibc's largest mmap threshold, so mapped every time), gone once
/// `destroy` returns; through the collector it goes only after that thread has woken and run.
/// Other suites run meanwhile and map blocks of their own, so a few of the 10 tries may read
/// wrong either way: most must see the block gone.
@Suite("free in place") struct FreeInPlaceTests {
    @Test func aDestroyedMessageIsFreedBeforeDestroyReturns() throws {
        guard NATSMessage.freesInPlace else { return }  // a libnats whose layout Baton does not know
        let payload = ByteBuffer(repeating: 0x61, count: 40 << 20)
        var freedAtOnce = 0
        for _ in 0..<10 {
            let message = NATSMessage(subject: "baton.free", replyTo: nil, headers: [:], payload: payload)
            let msg = try message.makeCMessage()
            let mapped = mallinfo2().hblkhd
            NATSMessage.destroy(msg)
            if mapped - mallinfo2().hblkhd >= 40 << 20 { freedAtOnce += 1 }
        }
        #expect(freedAtOnce >= 8)
    }
}
