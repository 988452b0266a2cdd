import BatonCore
import BatonNATS
import BatonStore
import Hummingbird
import NIOCore

/// `GET /v1/dead-letters[?after=SEQ&limit=N]`: what is in `BATON_DLQ`, oldest first — jobs that
/// failed every attempt and webhooks that could not be delivered — with their attempts and last
/// error. `next` pages on.
struct DeadLettersController: Sendable {
    let jetStream: JetStream
    /// Where replays are claimed (`DeadLetterReplayController`): an entry shows its replay.
    let idempotency: IdempotencyKeys

    struct Entry: Encodable {
        var sequence: UInt64
        var kind: String
        var job: String
        var service: String
        var attempts: Int?
        var error: String?
        var contentType: String?
        var size: Int
        var at: String?
        /// The job a replay of this dead letter runs (the same job for a webhook's).
        var replayedAs: String?
    }

    struct Page: Encodable {
        var deadLetters: [Entry]
        var next: String?
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/dead-letters", use: list)
    }

    @Sendable func list(_ request: Request, context _: BasicRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        guard let after = query["after"].map({ UInt64(String($0)) }) ?? .some(0), after < UInt64(Int64.max) else {
            throw Problem.badRequest("'after' must be a sequence number.")
        }
        guard let limit = query["limit"].map({ Int(String($0)) }) ?? .some(100), (1...1000).contains(limit) else {
            throw Problem.badRequest("'limit' must be 1...1000.")
        }
        var entries: [Entry] = []
        var sequence = after + 1
        do {
            while entries.count < limit,
                let message = try await jetStream.firstMessage(in: Streams.deadLetters, matching: Subjects.allDeadLetters, from: sequence)
            {
                sequence = message.sequence + 1
                if Caller.isAuthenticated, message.headers[Headers.owner] != Caller.name { continue }
                entries.append(Entry(
                    sequence: message.sequence,
                    kind: message.headers[Headers.deadLetterKind] ?? "job",
                    job: message.headers[Headers.jobID] ?? "",
                    service: message.headers[Headers.service] ?? "",
                    attempts: message.headers[Headers.attempts].flatMap(Int.init),
                    error: message.headers[Headers.error],
                    contentType: message.headers[Headers.contentType],
                    size: message.payload.readableBytes,
                    at: message.storedAt))
            }
            // Replays, one claim read per entry, all at once.
            let replays = try await withThrowingTaskGroup(of: (UInt64, String?).self) { group in
                for entry in entries {
                    group.addTask {
                        let claim = try await idempotency.bucket.get(DeadLetterReplayController.claimKey(entry.sequence))
                        return (entry.sequence, claim.flatMap { try? JSON.decode(IdempotencyKeys.Claim.self, from: $0.value) }?.job)
                    }
                }
                var replays: [UInt64: String] = [:]
                for try await (sequence, job) in group { replays[sequence] = job }
                return replays
            }
            for i in entries.indices { entries[i].replayedAs = replays[entries[i].sequence] }
        } catch {
            throw Problem.unavailable("The dead-letter stream is unavailable (NATS): \(error)")
        }
        let next = entries.count == limit ? "/v1/dead-letters?after=\(sequence - 1)&limit=\(limit)" : nil
        return .json(.ok, try JSON.encode(Page(deadLetters: entries, next: next)))
    }
}
