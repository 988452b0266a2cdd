import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// `GET /v1/dead-letters` paging: oldest first with `after`, newest first with `order=newest`
/// and `before`, one job's with `job`; bad parameters are 400 problems. Against the shared
/// system, whose `flaky` service fails a job every attempt on `{"failures": 9}`.
@Suite("dead-letter list", .timeLimit(.minutes(2)))
struct DeadLetterListTests {
    @Test func pagesNewestFirstAndOldestFirstAndFiltersByJob() async throws {
        let client = try await SharedSystem.get().client
        var ids: [String] = []
        for _ in 0..<3 {
            let submit = try await client.post("/v1/jobs/flaky", #"{"failures": 9}"#, headers: ["Prefer": "respond-async"])
            #expect(submit.status == 202)
            ids.append(try #require(submit.header("Baton-Job-Id")))
        }
        // Each job's dead letter, found by its job (in either order: the one entry of the job).
        var ours: [Int] = []
        for id in ids {
            try await waitUntil(timeout: .seconds(20), every: .milliseconds(100)) {
                (try await client.get("/v1/dead-letters?job=\(id)").json()["deadLetters"] as? [Any])?.isEmpty == false
            }
            for order in ["oldest", "newest"] {
                let page = try await client.get("/v1/dead-letters?job=\(id)&order=\(order)").json()
                let entries = try #require(page["deadLetters"] as? [[String: Any]])
                #expect(entries.count == 1, "\(order): \(entries)")
                #expect(entries.first?["job"] as? String == id)
                #expect(entries.first?["kind"] as? String == "job")
                #expect(page["next"] == nil, "\(order)")
                if order == "newest", let sequence = entries.first?["sequence"] as? Int { ours.append(sequence) }
            }
        }
        ours.sort()
        #expect(ours.count == 3)
        let (lowest, highest) = (try #require(ours.first), try #require(ours.last))

        // Newest first, one a page, from the top: strictly descending, and ours all come.
        var next: String? = "/v1/dead-letters?order=newest&limit=1"
        var seen: [Int] = []
        while let path = next, seen.last.map({ $0 > lowest }) ?? true, seen.count < 500 {
            let page = try await client.get(path).json()
            let entries = try #require(page["deadLetters"] as? [[String: Any]])
            #expect(entries.count == 1, "\(path): \(entries)")
            seen += entries.compactMap { $0["sequence"] as? Int }
            next = page["next"] as? String
            if let next, let last = seen.last { #expect(next == "/v1/dead-letters?order=newest&before=\(last)&limit=1") }
        }
        #expect(seen == seen.sorted(by: >), "not newest first: \(seen)")
        #expect(Set(ours).isSubset(of: Set(seen)), "paging newest first missed some of \(ours): \(seen)")

        // `before` starts below a sequence; `after` (oldest first) above one.
        let below = try await client.get("/v1/dead-letters?before=\(highest + 1)&limit=1").json()
        #expect((below["deadLetters"] as? [[String: Any]])?.first?["sequence"] as? Int == highest)
        let above = try await client.get("/v1/dead-letters?after=\(lowest - 1)&limit=1").json()
        #expect((above["deadLetters"] as? [[String: Any]])?.first?["sequence"] as? Int == lowest)
        #expect(above["next"] as? String == "/v1/dead-letters?after=\(lowest)&limit=1")

        // A job with no dead letter: an empty page.
        let none = try await client.get("/v1/dead-letters?job=\(JobID.make())").json()
        #expect((none["deadLetters"] as? [Any])?.isEmpty == true)
        #expect(none["next"] == nil)
    }

    @Test func badParametersAreProblems() async throws {
        let client = try await SharedSystem.get().client
        for query in ["order=sideways", "before=0", "before=x", "after=1&before=5", "order=oldest&before=3", "order=newest&after=3",
                      "job=nope", "limit=0", "limit=1001", "after=-1"] {
            let response = try await client.get("/v1/dead-letters?\(query)")
            #expect(response.status == 400, "\(query)")
            #expect(response.header("Content-Type") == "application/problem+json", "\(query)")
            #expect(try response.json()["type"] as? String == "/problems/bad-request", "\(query)")
        }
        #expect(try await client.get("/v1/dead-letters?order=newest&before=3&limit=5").status == 200)
    }
}
