import BatonObservability
import Metrics
import Prometheus
import Synchronization
import Testing

/// Metric handles made once per key and reused (`MetricHandles`), without a server.
@Suite("metric handles") struct MetricHandlesTests {
    @Test func madeOncePerKeyAndCountingIntoTheRegistry() throws {
        let registry = Observability.bootstrapMetricsOnly()
        let made = Mutex(0)
        let name = "baton_test_handles_\(UInt32.random(in: 0...UInt32.max))_total"
        let counters = MetricHandles { (key: LabelPair) in
            made.withLock { $0 += 1 }
            return Metrics.Counter(label: name, dimensions: [("service", key.first), ("state", key.second)])
        }
        for _ in 0..<3 { counters[LabelPair("echo", "succeeded")].increment() }
        counters[LabelPair("echo", "failed")].increment(by: 2)
        #expect(made.withLock { $0 } == 2, "one make per key")
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let text = String(decoding: buffer, as: UTF8.self)
        #expect(text.contains(#"\#(name){service="echo",state="succeeded"} 3"#))
        #expect(text.contains(#"\#(name){service="echo",state="failed"} 2"#))
    }
}
