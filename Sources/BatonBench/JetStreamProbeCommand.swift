import ArgumentParser
import BatonNATS
import Foundation
import Logging
import NIOCore

/// Sequential latency of the JetStream operations a durable job is made of, through the
/// binding: what one job's bookkeeping costs before any HTTP or worker code.
struct JetStreamProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "js-probe", abstract: "Time JetStream publish and KV operations.")

    @Option(name: .customLong("nats-url")) var natsURL = "nats://127.0.0.1:4222"
    @Option var operations = 2000

    func run() async throws {
        let connection = try await benchConnection(natsURL, name: "bench-js", logger: benchLogger("bench.js"))
        let js = try JetStream(connection)
        let tag = "p\(UInt32.random(in: 0...UInt32.max))"
        var stream = StreamSpec(name: "PROBE_\(tag)", subjects: ["probe.\(tag).>"])
        stream.retention = .workQueue
        try await js.ensureStream(stream)
        let kv = try await KeyValueBucket.ensure("probe-\(tag)", jetStream: js, ttl: .seconds(600))
        let payload = ByteBuffer(string: String(repeating: "x", count: 200))
        let clock = ContinuousClock()

        func time(_ name: String, _ body: (Int) async throws -> Void) async throws {
            let start = clock.now
            for i in 0..<operations { try await body(i) }
            let each = Double((clock.now - start).nanosecondsTotal) / Double(operations) / 1000
            print(String(format: "%-22s %8.1f us/op", name, each))
        }
        try await time("core request (no js)") { _ in
            _ = try? await connection.request(payload, to: "$JS.API.INFO", timeout: .seconds(2))
        }
        try await time("js publish + ack") { i in _ = try await js.publish(payload, to: "probe.\(tag).a", messageID: "m\(i)") }
        var revisions: [UInt64] = []
        try await time("kv create") { i in revisions.append(try await kv.create("k\(i)", payload)) }
        try await time("kv get (direct)") { i in _ = try await kv.get("k\(i)") }
        try await time("kv update (cas)") { i in _ = try await kv.update("k\(i)", payload, revision: revisions[i]) }
        try await time("kv put") { i in _ = try await kv.put("k\(i)", payload) }
        try await js.deleteStream(stream.name)
        try await js.deleteStream("KV_probe-\(tag)")
        await connection.close()
    }
}
