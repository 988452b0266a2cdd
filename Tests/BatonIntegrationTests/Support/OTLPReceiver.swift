import BatonTestSupport
import Foundation
import Hummingbird
import Synchronization

/// A stand-in for an OpenTelemetry collector on 127.0.0.1 (a free port): accepts OTLP/HTTP
/// `POST /v1/traces` in the protobuf encoding (what `baton --otel-endpoint` sends) and keeps
/// the spans, decoded by `OTLPSpanDecoder`.
final class OTLPReceiver: Sendable {
    /// What `--otel-endpoint` takes: "http://127.0.0.1:<port>".
    var endpoint: String { server.url() }

    private let state: State
    private let server: LocalHTTPServer

    private init(state: State, server: LocalHTTPServer) {
        self.state = state
        self.server = server
    }

    static func start() async throws -> OTLPReceiver {
        let state = State()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let body = Array(try await request.body.collect(upTo: 16 << 20).readableBytesView)
            state.record(try OTLPSpanDecoder.spans(inExportRequest: body), contentType: request.headers[.contentType] ?? "")
            // An empty ExportTraceServiceResponse: all accepted.
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"])
        }
        return OTLPReceiver(state: state, server: try await LocalHTTPServer.start(router, label: "test.otlp-receiver"))
    }

    /// Every span received so far.
    var spans: [ReceivedSpan] { state.log.withLock { $0.spans } }
    /// The `Content-Type`s of the exports received.
    var contentTypes: Set<String> { state.log.withLock { $0.contentTypes } }

    /// The spans of trace `traceID` once at least `count` arrived, or all there are after `timeout`.
    func waitForSpans(of traceID: String, count: Int, timeout: Duration) async -> [ReceivedSpan] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let spans = self.spans.filter { $0.traceID == traceID }
            if spans.count >= count { return spans }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return spans.filter { $0.traceID == traceID }
    }

    func stop() async { await server.stop() }

    private final class State: Sendable {
        let log = Mutex<(spans: [ReceivedSpan], contentTypes: Set<String>)>((spans: [], contentTypes: []))

        func record(_ spans: [ReceivedSpan], contentType: String) {
            log.withLock {
                $0.spans += spans
                $0.contentTypes.insert(contentType)
            }
        }
    }
}

/// One span as a collector sees it (ids in lowercase hex, as in a `traceparent`).
struct ReceivedSpan: Sendable {
    var traceID = ""
    var spanID = ""
    /// "" for a root span.
    var parentSpanID = ""
    var name = ""
    /// OTLP `SpanKind`: 2 server, 3 client, 5 consumer.
    var kind = 0
    var startNanoseconds: UInt64 = 0
    var endNanoseconds: UInt64 = 0
    /// String and integer attributes, integers as their decimal text.
    var attributes: [String: String] = [:]
    /// The `service.name` of the process that sent it.
    var serviceName = ""
}

/// Just enough of the protobuf wire format to read spans out of an OTLP
/// `ExportTraceServiceRequest` (opentelemetry-proto `trace/v1/trace.proto`): field numbers
/// below. swift-otel's generated types are internal to it, and protoc is not at hand.
enum OTLPSpanDecoder {
    static func spans(inExportRequest bytes: [UInt8]) throws -> [ReceivedSpan] {
        var spans: [ReceivedSpan] = []
        for (field, resourceSpans) in try fields(bytes[...]) where field == 1 {  // resource_spans
            guard case .bytes(let resourceSpans) = resourceSpans else { continue }
            var serviceName = ""
            var received: [ReceivedSpan] = []
            for (field, value) in try fields(resourceSpans) {
                guard case .bytes(let inner) = value else { continue }
                if field == 1 {  // resource → attributes (1)
                    for (field, attribute) in try fields(inner) where field == 1 {
                        if case .bytes(let pair) = attribute, let (key, value) = try keyValue(pair), key == "service.name" { serviceName = value }
                    }
                } else if field == 2 {  // scope_spans → spans (2)
                    for (field, span) in try fields(inner) where field == 2 {
                        if case .bytes(let span) = span { received.append(try self.span(span)) }
                    }
                }
            }
            spans += received.map { span in
                var span = span
                span.serviceName = serviceName
                return span
            }
        }
        return spans
    }

    private static func span(_ bytes: ArraySlice<UInt8>) throws -> ReceivedSpan {
        var span = ReceivedSpan()
        for (field, value) in try fields(bytes) {
            switch (field, value) {
            case (1, .bytes(let id)): span.traceID = hex(id)
            case (2, .bytes(let id)): span.spanID = hex(id)
            case (4, .bytes(let id)): span.parentSpanID = hex(id)
            case (5, .bytes(let name)): span.name = String(decoding: name, as: UTF8.self)
            case (6, .number(let kind)): span.kind = Int(kind)
            case (7, .number(let start)): span.startNanoseconds = start
            case (8, .number(let end)): span.endNanoseconds = end
            case (9, .bytes(let pair)): if let (key, value) = try keyValue(pair) { span.attributes[key] = value }
            default: break
            }
        }
        return span
    }

    /// A `KeyValue` whose `AnyValue` is a string (1) or an int (3).
    private static func keyValue(_ bytes: ArraySlice<UInt8>) throws -> (String, String)? {
        var key: String?
        var value: String?
        for (field, part) in try fields(bytes) {
            if field == 1, case .bytes(let text) = part { key = String(decoding: text, as: UTF8.self) }
            if field == 2, case .bytes(let any) = part {
                for (kind, inner) in try fields(any) {
                    switch (kind, inner) {
                    case (1, .bytes(let text)): value = String(decoding: text, as: UTF8.self)
                    case (3, .number(let number)): value = String(Int64(bitPattern: number))
                    default: break
                    }
                }
            }
        }
        guard let key, let value else { return nil }
        return (key, value)
    }

    enum Value {
        /// varint, fixed64 or fixed32.
        case number(UInt64)
        case bytes(ArraySlice<UInt8>)
    }

    /// The fields of one message, in order.
    static func fields(_ bytes: ArraySlice<UInt8>) throws -> [(Int, Value)] {
        var fields: [(Int, Value)] = []
        var index = bytes.startIndex
        func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.endIndex, shift < 64 {
                let byte = bytes[index]
                index += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
            throw TestError("truncated varint")
        }
        func fixed(_ size: Int) throws -> UInt64 {
            guard bytes.endIndex - index >= size else { throw TestError("truncated fixed\(size * 8)") }
            var result: UInt64 = 0
            for i in 0..<size { result |= UInt64(bytes[index + i]) << (8 * UInt64(i)) }
            index += size
            return result
        }
        while index < bytes.endIndex {
            let tag = try varint()
            switch tag & 7 {
            case 0: fields.append((Int(tag >> 3), .number(try varint())))
            case 1: fields.append((Int(tag >> 3), .number(try fixed(8))))
            case 5: fields.append((Int(tag >> 3), .number(try fixed(4))))
            case 2:
                let length = Int(try varint())
                guard length >= 0, bytes.endIndex - index >= length else { throw TestError("truncated field") }
                fields.append((Int(tag >> 3), .bytes(bytes[index..<index + length])))
                index += length
            default: throw TestError("unsupported protobuf wire type \(tag & 7)")
            }
        }
        return fields
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
