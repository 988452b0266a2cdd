import ArgumentParser
import BatonNATS
import Foundation
import Logging
import NIOCore

/// Phase A's second half: how fast workers empty the job queue. Waits until `BATON_JOBS` holds
/// messages, then reports the time until it is empty.
struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drain", abstract: "Time how fast workers empty BATON_JOBS.")

    @Option(name: .customLong("nats-url")) var natsURL = "nats://127.0.0.1:4222"
    @Option(help: "Give up after this many seconds.") var timeout = 300

    func run() async throws {
        let connection = try await benchConnection(natsURL, name: "bench-drain", logger: benchLogger("bench.drain"))
        let js = try JetStream(connection)
        let start = try await js.streamMessageCount("BATON_JOBS") ?? 0
        print("queued=\(start)")
        let clock = ContinuousClock()
        let began = clock.now
        while clock.now - began < .seconds(timeout) {
            if (try await js.streamMessageCount("BATON_JOBS") ?? 0) == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let left = try await js.streamMessageCount("BATON_JOBS") ?? 0
        let seconds = Double((clock.now - began).nanosecondsTotal) / 1e9
        print(String(format: "drained=%d left=%d seconds=%.2f rate=%.0f", start - left, left, seconds, Double(start - left) / seconds))
        await connection.close()
    }
}

/// After phase RA: empties its stream (`JetStreamPipeline.acceptStream`), whose jobs no worker
/// takes, so that the phases after it run on the store they would have without it.
struct PurgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "purge", abstract: "Purge a stream (phase RA's jobs).")

    @Option(name: .customLong("nats-url")) var natsURL = "nats://127.0.0.1:4222"
    @Option var stream = JetStreamPipeline.acceptStream

    func run() async throws {
        let connection = try await benchConnection(natsURL, name: "bench-purge", logger: benchLogger("bench.purge"))
        let reply = try await connection.request(ByteBuffer(), to: "$JS.API.STREAM.PURGE.\(stream)", timeout: .seconds(30))
        print(String(buffer: reply.payload))
        await connection.close()
    }
}
