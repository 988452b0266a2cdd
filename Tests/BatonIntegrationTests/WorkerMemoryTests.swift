import BatonCore
import BatonNATS
import BatonTestSupport
import EmbeddedNATS
import Foundation
import Testing

/// A worker's memory does not grow with the jobs it has run.
///
/// A `baton worker` child process (its resident set is its own, whatever the other tests do in
/// this one) on a server of its own runs durable jobs in two rounds; its resident set after
/// the second round is compared with the one after the first. Memory, not time: the bound is
/// generous (a few MB of allocator slack) and the fault it guards against is far above it.
/// The job handlers' task group kept every finished child task until the worker stopped,
/// ~27 KB per job in a release build and in this debug one: ~16 MB over the second round's
/// 600 jobs (26 MB over 1,000, 53 MB over 2,000). Kept small: it shares the box with the
/// suite's timing-sensitive tests.
@Suite("worker memory", .serialized, .timeLimit(.minutes(3))) struct WorkerMemoryTests {
    @Test func residentSetStaysFlatAcrossHundredsOfDurableJobs() async throws {
        let server = try await NATSServerProcess.shared("worker-memory")
        let gateway = try await TestGateway.start(natsURL: server.url)
        let worker = try WorkerProcess(natsURL: server.url, arguments: ["--services", "echo", "--concurrency", "64", "--log-level", "info"])
        defer { worker.kill() }
        try await worker.waitUntilServing()
        let js = try JetStream(gateway.connection)

        try await runJobs(200, through: gateway, js: js)
        let warm = try residentMegabytes(of: worker.pid)
        try await runJobs(600, through: gateway, js: js)
        let after = try residentMegabytes(of: worker.pid)
        print("worker resident set: \(warm) MB after 200 jobs, \(after) MB after 800")
        #expect(after - warm < 8, "the worker grew from \(warm) MB to \(after) MB over 600 jobs")
        #expect(worker.process.isRunning, "\(worker.log.suffix(4_000))")
    }

    /// Submits `count` echo jobs (`respond-async`, 4 at a time) and waits until the worker
    /// has acknowledged every one (the consumer has none pending and none unacknowledged).
    private func runJobs(_ count: Int, through gateway: TestGateway, js: JetStream) async throws {
        let client = gateway.client
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<4 {
                group.addTask {
                    for i in stride(from: lane, to: count, by: 4) {
                        let response = try await client.post("/v1/jobs/echo", "job \(i)", headers: ["Prefer": "respond-async"])
                        guard response.status == 202 else { throw TestError("job \(i): \(response.status) \(response.text)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let consumer = Streams.consumer(service: "echo", priority: .normal)
        try await waitUntil(timeout: .seconds(120)) {
            guard let state = try? await js.consumerInfo(stream: Streams.jobs, consumer: consumer) else { return false }
            return state.numPending == 0 && state.numAckPending == 0
        }
    }

    /// `VmRSS` of process `pid`, in MB.
    private func residentMegabytes(of pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) })
        else { throw TestError("no VmRSS for process \(pid)") }
        return kilobytes / 1024
    }
}
