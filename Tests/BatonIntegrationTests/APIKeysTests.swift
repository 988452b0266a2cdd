@testable import BatonGateway
import Testing

/// The key file: plaintext and hashed secrets, several secrets per name, and what is refused.
/// No server: `APIKeys` alone.
@Suite("API keys: parsing and matching")
struct APIKeysTests {
    let alice = "alice-secret-0123456789"
    let aliceNext = "alice-next-secret-9876543210"

    @Test func plaintextLinesKeepWorking() throws {
        let keys = try APIKeys(parsing: "alice:\(alice)\nslow:slow-secret-0123456789:2 # a comment\n# only a comment", defaultRate: 5)
        #expect(keys.count == 2)
        #expect(keys.key(for: alice) == APIKeys.Key(name: "alice", rate: 5))
        #expect(keys.key(for: "slow-secret-0123456789") == APIKeys.Key(name: "slow", rate: 2))
        #expect(keys.key(for: "alice-secret-012345678") == nil)
        #expect(keys.key(for: "") == nil)
    }

    @Test func aHashedLineMatchesItsSecretOnly() throws {
        let hashed = APIKeys.hashed(alice)
        #expect(hashed.hasPrefix("sha256:") && hashed.count == 7 + 64)
        let keys = try APIKeys(parsing: "alice:\(hashed):10")
        #expect(keys.key(for: alice) == APIKeys.Key(name: "alice", rate: 10))
        // The digest itself is no secret.
        #expect(keys.key(for: hashed) == nil)
        #expect(keys.key(for: String(hashed.dropFirst(7))) == nil)
        #expect(keys.key(for: alice + "x") == nil)
        // Upper-case hex digits are read too.
        #expect(try APIKeys(parsing: "alice:sha256:\(hashed.dropFirst(7).uppercased())").key(for: alice)?.name == "alice")
    }

    /// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
    @Test func theHashIsSHA256InLowerCaseHex() {
        #expect(APIKeys.hashed("abc") == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func twoSecretsOfOneNameAreOneCaller() throws {
        let keys = try APIKeys(parsing: "alice:\(APIKeys.hashed(alice)),bob:bob-secret-0123456789abc,alice:\(aliceNext):3")
        #expect(keys.count == 3)
        #expect(keys.names == ["alice", "bob"])
        // The rate given on one line is the name's.
        #expect(keys.key(for: alice) == APIKeys.Key(name: "alice", rate: 3))
        #expect(keys.key(for: aliceNext) == APIKeys.Key(name: "alice", rate: 3))
        #expect(keys.key(for: "bob-secret-0123456789abc")?.name == "bob")
    }

    @Test func contradictionsAndMalformedLinesAreRefused() {
        let hex = String(APIKeys.hashed(alice).dropFirst(7))
        let refused: [(String, String)] = [
            ("alice:\(alice):1\nalice:\(aliceNext):2", "two rates"),
            ("alice:\(alice)\nbob:\(APIKeys.hashed(alice))", "already the key of alice"),
            ("alice:short", "at least 16"),
            ("alice:sha256:\(hex.dropLast())", "64 hex"),
            ("alice:sha256:\(hex.dropLast())g", "64 hex"),
            ("alice:sha256:\(hex)00", "64 hex"),
            ("alice:sha256:", "64 hex"),
            ("alice:sha256:\(hex):1:2", "expected"),
            ("alice:\(alice):1:2", "expected"),
            ("alice:\(alice):0", "positive"),
            ("alice:\(alice):fast", "positive"),
            ("al ice:\(alice)", "expected"),
            ("alice", "expected"),
        ]
        for (text, message) in refused {
            #expect(throws: APIKeysError.self, "\(text)") { try APIKeys(parsing: text) }
            do {
                _ = try APIKeys(parsing: text)
            } catch {
                #expect("\(error)".contains(message), "\(text): \(error)")
            }
        }
        // The same secret twice for one name is harmless.
        #expect(throws: Never.self) { try APIKeys(parsing: "alice:\(alice)\nalice:\(APIKeys.hashed(alice))") }
    }

    @Test func digestsAreComparedByteForByte() {
        let digest = APIKeys.digest(alice)
        #expect(APIKeys.constantTimeEqual(digest, APIKeys.digest(alice)))
        var first = digest
        first[0] ^= 1
        var last = digest
        last[31] ^= 0x80
        #expect(!APIKeys.constantTimeEqual(digest, first))
        #expect(!APIKeys.constantTimeEqual(digest, last))
        #expect(!APIKeys.constantTimeEqual(digest, Array(digest.prefix(31))))
        #expect(!APIKeys.constantTimeEqual(digest, []))
    }
}
