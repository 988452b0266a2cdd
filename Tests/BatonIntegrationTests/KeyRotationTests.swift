@testable import BatonGateway
import Foundation
import Testing

/// A key file with a hashed and a plaintext secret for one name (a rotation half done), made
/// with `baton keys hash`, served by a real gateway: both secrets are the same caller.
@Suite("API keys: hashed secrets and rotation", .timeLimit(.minutes(2)))
struct KeyRotationTests {
    @Test func bothSecretsOfANameSubmitAndSeeEachOthersJobs() async throws {
        let system = try await SharedSystem.get()
        let old = "rotating-old-secret-\(UUID().uuidString)"
        let new = "rotating-new-secret-\(UUID().uuidString)"
        let hashed = try await runBaton(["keys", "hash", "--name", "rotating"], stdin: Data((old + "\n").utf8))
        #expect(hashed.status == 0, "\(hashed)")
        let line = hashed.text.trimmingCharacters(in: .newlines)
        #expect(line == "rotating:" + APIKeys.hashed(old))
        #expect(!line.contains(old))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("baton-keys-\(UUID().uuidString)").path
        try "\(line)\nrotating:\(new)\nother:other-secret-0123456789\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let keys = try #require(try APIKeys.load(file: file, environment: nil, defaultRate: nil))
        let gateway = try await TestGateway.start(natsURL: system.server.url) { configuration in
            configuration.webhooks = testWebhooks(enabled: false)
            configuration.apiKeys = keys
        }
        defer { Task { await gateway.connection.close() } }
        let client = gateway.client
        let byOld = ["Authorization": "Bearer \(old)"]
        let byNew = ["Authorization": "Bearer \(new)"]

        var locations: [String] = []
        for headers in [byOld, byNew] {
            let submitted = try await client.post("/v1/jobs/echo", "rotation", headers: headers.merging(["Prefer": "respond-async"]) { $1 })
            #expect(submitted.status == 202, "\(submitted.text)")
            locations.append(try #require(submitted.header("Location")))
        }
        // Each secret sees both jobs: they belong to the name.
        for headers in [byOld, byNew] {
            for location in locations {
                let result = try await client.get(location + "/result", headers: headers.merging(["Prefer": "wait=10"]) { $1 })
                #expect(result.status == 200 && result.text == "rotation", "\(location): \(result.status) \(result.text)")
            }
            let listed = try await client.get("/v1/jobs?service=echo&limit=50", headers: headers)
            let ids = Set((try listed.json()["jobs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
            #expect(ids == Set(locations.map { String($0.split(separator: "/").last!) }), "\(listed.text)")
        }
        // Another name does not; a wrong secret is a 401 problem.
        #expect(try await client.get(locations[0], headers: ["Authorization": "Bearer other-secret-0123456789"]).status == 404)
        for secret in [old + "x", String(line.dropFirst("rotating:".count)), "rotating-old-secret"] {
            let refused = try await client.post("/v1/jobs/echo", "x", headers: ["Authorization": "Bearer \(secret)"])
            #expect(refused.status == 401)
            #expect(refused.header("Content-Type") == "application/problem+json")
            #expect(try refused.json()["type"] as? String == "/problems/unauthorized")
        }
    }

    @Test func keysHashPrintsTheDigestFromAnArgumentOrStandardInput() async throws {
        let secret = "a-secret-of-enough-length"
        let argument = try await runBaton(["keys", "hash", secret])
        #expect(argument.status == 0, "\(argument)")
        #expect(argument.text == APIKeys.hashed(secret) + "\n")
        let piped = try await runBaton(["keys", "hash", "--name", "ci", "--rate", "50"], stdin: Data((secret + "\n").utf8))
        #expect(piped.text == "ci:\(APIKeys.hashed(secret)):50\n", "\(piped)")
        // What it prints is a valid key-file line for that secret.
        #expect(try APIKeys(parsing: piped.text).key(for: secret) == APIKeys.Key(name: "ci", rate: 50))

        for arguments in [["keys", "hash", "short"], ["keys", "hash", "--name", "bad name", secret], ["keys", "hash", "--rate", "5", secret]] {
            let refused = try await runBaton(arguments)
            #expect(refused.status == 64, "\(arguments): \(refused)")
            #expect(refused.text.isEmpty)
        }
    }
}
