import BatonObservability
import Testing

/// The `traceparent` parser (W3C Trace Context, section 3.2), without a server.
@Suite("traceparent parsing") struct TraceContextTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func fieldsOfAValidOne() throws {
        let context = try #require(TraceContext(traceparent: Self.valid, tracestate: "vendor=x"))
        #expect(context.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.parentID == "00f067aa0ba902b7")
        #expect(context.flags == "01")
        #expect(context.tracestate == "vendor=x")
        #expect(context.traceparent == Self.valid)
    }

    @Test(arguments: [
        "  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01  ",  // spaces around
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",  // a later version
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab-cd12",  // ... with more fields
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
    ])
    func accepted(_ traceparent: String) throws {
        let context = try #require(TraceContext(traceparent: traceparent))
        #expect(context.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.parentID == "00f067aa0ba902b7")
    }

    @Test(arguments: [
        "", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  // too short
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-00",  // version 00 with a fifth field
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // the forbidden version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero parent id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // wrong separator
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // a later version, no dash after the flags
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-XYZ",  // ... a field not hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
    ])
    func refused(_ traceparent: String) {
        #expect(TraceContext(traceparent: traceparent) == nil)
    }

    @Test func tracestateKeptAsItCameUnlessEmptyOrTooLong() throws {
        #expect(TraceContext(traceparent: Self.valid, tracestate: "")?.tracestate == nil)
        #expect(TraceContext(traceparent: Self.valid, tracestate: String(repeating: "a", count: 513))?.tracestate == nil)
        #expect(TraceContext(traceparent: Self.valid, tracestate: "a=1,b=2")?.tracestate == "a=1,b=2")
    }

    @Test func childKeepsTheTraceAndDrawsASpan() throws {
        let context = try #require(TraceContext(traceparent: Self.valid))
        let child = context.child()
        #expect(child.traceID == context.traceID)
        #expect(child.parentID != context.parentID)
        #expect(TraceContext(traceparent: child.traceparent) == child)
    }

    /// A new trace is sampled only when asked (the process records it): nats-server 2.11+ does
    /// work for every message whose `traceparent` is sampled.
    @Test func aNewTraceIsSampledOnlyWhenRecorded() throws {
        let recorded = try #require(TraceContext(traceparent: TraceContext.random(sampled: true).traceparent))
        let unrecorded = try #require(TraceContext(traceparent: TraceContext.random(sampled: false).traceparent))
        #expect(recorded.flags == "01")
        #expect(unrecorded.flags == "00")
        #expect(recorded.traceID != unrecorded.traceID)
        // A child keeps its parent's flags, whichever they are.
        #expect(unrecorded.child().flags == "00")
        #expect(recorded.child().flags == "01")
        #expect(try #require(TraceContext(traceparent: String(Self.valid.dropLast(2)) + "00")).child().flags == "00")
    }
}
