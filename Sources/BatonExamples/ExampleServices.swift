import BatonCore
import BatonWorker
import Foundation
import NIOCore

/// The example services that `baton dev`, `baton worker`, the tests and the README use.
public enum ExampleServices {
    /// Names `baton worker --services` accepts.
    public static let names = ["echo", "echo-fast", "slow", "slow-fast", "fail", "flaky"]

    /// The definition of `name` on `lane` (nil if there is no such example).
    ///
    /// `echo`, `fail` and `flaky` answer without suspending, so on the fast lane they start on the
    /// thread that delivers the request (`HandlerStart.immediately`); `slow` waits from its start
    /// and keeps the default.
    public static func definition(_ name: String, lane: Lane? = nil) -> ServiceDefinition? {
        switch name {
        case "echo":
            ServiceDefinition(
                name: "echo", lane: lane ?? .durable, description: "Answers the input bytes and content type unchanged.", start: .immediately,
                handler: echo)
        case "echo-fast":
            ServiceDefinition(
                name: "echo-fast", lane: lane ?? .fast, description: "echo on the fast lane (core NATS request-reply).", start: .immediately,
                handler: echo)
        case "slow":
            ServiceDefinition(name: "slow", lane: lane ?? .durable, description: #"{"ms": N, "steps": K}: reports K progress steps over N ms, answers {"slept_ms": N}."#, handler: slow)
        case "slow-fast":
            ServiceDefinition(name: "slow-fast", lane: lane ?? .fast, description: "slow on the fast lane (held calls with no stored job).", handler: slow)
        case "fail":
            ServiceDefinition(
                name: "fail", lane: lane ?? .durable, description: #"{"status": S, "message": M}: fails with that status and message."#,
                start: .immediately, handler: fail)
        case "flaky":
            ServiceDefinition(
                name: "flaky", lane: lane ?? .durable,
                description: #"{"failures": N}: fails (retryable, 503) on its first N attempts, then answers {"attempt": n}."#, start: .immediately,
                handler: flaky)
        default:
            nil
        }
    }

    /// `echo`: the input bytes and content type, unchanged.
    @Sendable public static func echo(_ job: Job, _: JobContext) async throws -> JobAnswer {
        JobAnswer(status: 200, contentType: job.contentType, body: job.input)
    }

    struct SlowInput: Decodable {
        var ms: Int
        var steps: Int?
    }

    /// `slow`: `{"ms": N, "steps": K}` sleeps N ms in K steps, reporting progress after each;
    /// answers `{"slept_ms": N}`; stops early when cancelled.
    @Sendable public static func slow(_ job: Job, _ context: JobContext) async throws -> JobAnswer {
        let input: SlowInput
        do {
            input = try JSON.decode(SlowInput.self, from: job.input)
        } catch {
            throw JobError(status: 400, message: #"slow expects JSON {"ms": N, "steps": K}"#)
        }
        guard (0...3_600_000).contains(input.ms) else { throw JobError(status: 400, message: "ms must be within 0...3600000") }
        let steps = max(1, min(input.steps ?? 1, 1000))
        let step = Duration.milliseconds(input.ms) / steps
        for i in 1...steps {
            try await Task.sleep(for: step)
            await context.progress(percent: Double(i) * 100 / Double(steps), message: "step \(i) of \(steps)")
        }
        return JobAnswer(status: 200, contentType: "application/json", body: ByteBuffer(string: #"{"slept_ms":\#(input.ms)}"#))
    }

    struct FailInput: Decodable {
        var status: Int
        var message: String?
    }

    /// `fail`: `{"status": S, "message": M}` fails with status S and message M.
    @Sendable public static func fail(_ job: Job, _: JobContext) async throws -> JobAnswer {
        guard let input = try? JSON.decode(FailInput.self, from: job.input), (400...599).contains(input.status) else {
            throw JobError(status: 400, message: #"fail expects JSON {"status": 400-599, "message": "..."}"#)
        }
        throw JobError(status: input.status, message: input.message ?? "failed on purpose")
    }

    struct FlakyInput: Decodable {
        var failures: Int
    }

    /// `flaky`: `{"failures": N}` fails with a retryable 503 on attempts 1...N, then answers
    /// `{"attempt": n}` (shows retries with backoff and, with N ≥ --max-attempts, dead letters).
    @Sendable public static func flaky(_ job: Job, _: JobContext) async throws -> JobAnswer {
        guard let input = try? JSON.decode(FlakyInput.self, from: job.input), input.failures >= 0 else {
            throw JobError(status: 400, message: #"flaky expects JSON {"failures": N}"#)
        }
        if job.attempt <= input.failures {
            throw JobError.retryable("attempt \(job.attempt) of \(input.failures) planned failures")
        }
        return JobAnswer(status: 200, contentType: "application/json", body: ByteBuffer(string: #"{"attempt":\#(job.attempt)}"#))
    }
}
