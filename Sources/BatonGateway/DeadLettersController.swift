import BatonCore
import BatonStore
import Hummingbird
import NIOCore

/// `GET /v1/dead-letters[?order=oldest|newest&after=SEQ|before=SEQ&job=ID&limit=N]`: what is in
/// `BATON_DLQ` — jobs that failed every attempt and webhooks that could not be delivered — with
/// their attempts and last error; with API keys, only the caller's. Oldest first (`after` pages
/// on), or newest first with `order=newest` (`before` pages on: the console's "older"). `next`
/// carries the page after this one, when there may be one.
///
/// The positions are stream sequences, not opaque cursors like the job list's: a dead letter's
/// sequence is its name (replay takes it) and `after` was public before `before`. The reading
/// (`DeadLetterQuery`) looks at no more than `DeadLetterQuery.scanLimit` stored entries per call.
struct DeadLettersController<Letters: DeadLetterReading, Claims: IdempotencyClaims>: Sendable {
    let deadLetters: Letters
    /// Where replays are claimed (`DeadLetterReplayController`): an entry shows its replay.
    let claims: Claims

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
        var query = try DeadLetterQuery(request.uri.queryParameters)
        query.owner = Caller.isAuthenticated ? Caller.name : nil
        var entries: [Entry]
        let next: UInt64?
        do {
            let found = try await deadLetters.page(query)
            next = found.next
            entries = found.letters.map { letter in
                Entry(
                    sequence: letter.sequence, kind: letter.kind, job: letter.job ?? "", service: letter.service ?? "",
                    attempts: letter.attempts, error: letter.error, contentType: letter.contentType,
                    size: letter.payload.readableBytes, at: letter.storedAt)
            }
            // Replays, one claim read per entry, all at once.
            let replays = try await withThrowingTaskGroup(of: (UInt64, String?).self) { group in
                for entry in entries {
                    group.addTask {
                        (entry.sequence, try await claims.claimed(DeadLetter.replayClaimKey(entry.sequence))?.job)
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
        return .json(.ok, try JSON.encode(Page(deadLetters: entries, next: next.map(query.link(from:)))))
    }
}
