import BatonCore
import BatonStore
import Hummingbird

/// `GET /v1/jobs[?service=S&state=STATE&limit=N&cursor=C]`: recent jobs, newest first, as
/// status documents; with API keys, only the caller's. `next` pages on. The list is the records
/// bucket read backwards (`JobStore.list`: no index to keep, a bounded scan per call).
struct JobListController<Jobs: JobRepository>: Sendable {
    let jobs: Jobs

    static var defaultLimit: Int { 20 }
    static var maxLimit: Int { 200 }

    struct Page: Encodable {
        var jobs: [JobStatus]
        var next: String?
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/jobs", use: list)
    }

    @Sendable func list(_ request: Request, context _: BasicRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        var query = JobQuery(limit: Self.defaultLimit)
        if let service = parameters["service"].map(String.init) {
            guard ServiceName.isValid(service) else { throw Problem.badRequest("'service' is not a service name.") }
            query.service = service
        }
        if let state = parameters["state"].map(String.init) {
            guard let known = JobState(rawValue: state) else {
                let states = JobState.allCases.map(\.rawValue).joined(separator: ", ")
                throw Problem.badRequest("'state' must be one of \(states).")
            }
            query.state = known
        }
        if let limit = try listLimit(parameters["limit"], max: Self.maxLimit) { query.limit = limit }
        if let cursor = parameters["cursor"].map(String.init) {
            guard let position = Self.position(cursor) else { throw Problem.badRequest("'cursor' is not a cursor this gateway gave out.") }
            query.before = position
        }
        query.owner = Caller.isAuthenticated ? Caller.name : nil
        let listing: JobListing
        do {
            listing = try await jobs.list(query)
        } catch {
            throw Problem.unavailable("The job records are unavailable (NATS): \(error)")
        }
        var next: String?
        if let position = listing.next {
            var items = ["limit=\(query.limit)", "cursor=\(Self.cursor(position))"]
            if let service = query.service { items.insert("service=\(service)", at: 0) }
            if let state = query.state { items.insert("state=\(state.rawValue)", at: items.count - 2) }
            next = "/v1/jobs?" + items.joined(separator: "&")
        }
        return .json(.ok, try JSON.encode(Page(jobs: listing.jobs.map { JobStatus(record: $0) }, next: next)))
    }

    /// A cursor is a position in the records' stream, written base 36 behind a `c` (opaque to
    /// clients: only what `next` gave out is meant to come back).
    static func cursor(_ position: UInt64) -> String { "c" + String(position, radix: 36) }

    static func position(_ cursor: String) -> UInt64? {
        guard cursor.first == "c", cursor.count <= 14 else { return nil }
        return UInt64(cursor.dropFirst(), radix: 36)
    }
}
