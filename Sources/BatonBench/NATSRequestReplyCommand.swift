import ArgumentParser
import BatonNATS
import Foundation
import Logging
import NIOCore

/// Baseline N: request-reply through Baton's own NATS binding against a trivial responder in a
/// second connection, with a fixed number of requests in flight.
struct NATSRequestReplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nats-rr", abstract: "Measure NATS request-reply (baseline N).")

    @Option(name: .customLong("nats-url")) var natsURL = "nats://127.0.0.1:4222"
    @Option(help: "Requests in flight.") var concurrency = 64
    @Option(help: "Seconds to run.") var duration = 10
    @Option(help: "Payload bytes.") var size = 11

    func run() async throws {
        let logger = benchLogger("bench.nats")
        let responder = try await benchConnection(natsURL, name: "bench-responder", logger: logger)
        let requester = try await benchConnection(natsURL, name: "bench-requester", logger: logger)
        let subject = "bench.rr.\(UInt32.random(in: 0...UInt32.max))"
        let subscription = try responder.subscribe(to: subject, queue: "bench")
        try await responder.flush()
        let serving = Task {
            for await request in subscription {
                if let reply = request.replyTo { try? responder.publish(request.payload, to: reply) }
            }
        }
        let payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: .seconds(duration))
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var samples: [Double] = []
                    while clock.now < end {
                        let start = clock.now
                        _ = try await requester.request(payload, to: subject, timeout: .seconds(5))
                        samples.append(Double((clock.now - start).nanosecondsTotal) / 1000)
                    }
                    return samples
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }.sorted()
        }
        subscription.unsubscribe()
        _ = await serving.result
        let rate = Double(latencies.count) / Double(duration)
        func percentile(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        // One machine-readable line for bench/run.sh.
        print(String(format: "requests=%d rps=%.0f p50_us=%.0f p99_us=%.0f", latencies.count, rate, percentile(0.5), percentile(0.99)))
        await requester.close()
        await responder.close()
    }
}

extension Duration {
    var nanosecondsTotal: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
