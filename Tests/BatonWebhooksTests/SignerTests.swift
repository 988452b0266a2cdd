import Foundation
import Testing
@testable import BatonWebhooks

@Suite struct SignerTests {
    // The test vector of the Standard Webhooks specification.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    let timestamp = 1614265330
    let body = Array(#"{"test": 2432232314}"#.utf8)
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    @Test func specVector() throws {
        let signer = WebhookSigner(secret: try WebhookSecret(secret))
        #expect(signer.signature(id: id, timestamp: timestamp, body: body) == expected)
    }

    @Test func headers() throws {
        let signer = WebhookSigner(secret: try WebhookSecret(secret))
        let headers = signer.headers(id: id, timestamp: timestamp, body: body)
        #expect(headers.map(\.name) == ["webhook-id", "webhook-timestamp", "webhook-signature"])
        #expect(headers.map(\.value) == [id, "1614265330", expected])
    }

    @Test func verifyAcceptsAndRejects() throws {
        let signer = WebhookSigner(secret: try WebhookSecret(secret))
        #expect(signer.verify(id: id, timestamp: timestamp, body: body, signatureHeader: expected, now: timestamp + 10))
        // Several signatures (key rotation): any valid v1 one will do; other versions are ignored.
        #expect(signer.verify(id: id, timestamp: timestamp, body: body, signatureHeader: "v1a,xyz v1,AAAA \(expected)", now: timestamp))
        // Tampered body, id or timestamp.
        #expect(!signer.verify(id: id, timestamp: timestamp, body: Array(#"{"test": 2432232315}"#.utf8), signatureHeader: expected, now: timestamp))
        #expect(!signer.verify(id: "msg_other", timestamp: timestamp, body: body, signatureHeader: expected, now: timestamp))
        // Stale or future timestamp (tolerance 300 s by default).
        #expect(!signer.verify(id: id, timestamp: timestamp, body: body, signatureHeader: expected, now: timestamp + 301))
        #expect(!signer.verify(id: id, timestamp: timestamp, body: body, signatureHeader: expected, now: timestamp - 301))
        #expect(signer.verify(id: id, timestamp: timestamp, body: body, signatureHeader: expected, now: timestamp + 3600, tolerance: 3600))
        // Garbage headers.
        for header in ["", "v1,", "v1", "v2,\(expected.dropFirst(3))", "v1,!!!", String(expected.dropLast(2))] {
            #expect(!signer.verify(id: id, timestamp: timestamp, body: body, signatureHeader: header, now: timestamp))
        }
        // Another secret.
        let other = WebhookSigner(secret: .generate())
        #expect(!other.verify(id: id, timestamp: timestamp, body: body, signatureHeader: expected, now: timestamp))
    }

    @Test func signAndVerifyNow() {
        let signer = WebhookSigner(secret: .generate())
        let now = Int(Date().timeIntervalSince1970)
        let signature = signer.signature(id: "msg_1", timestamp: now, body: [])
        #expect(signer.verify(id: "msg_1", timestamp: now, body: [], signatureHeader: signature))
    }

    @Test func secrets() throws {
        #expect(try WebhookSecret(secret).description == secret)
        let generated = WebhookSecret.generate()
        #expect(generated.description.hasPrefix("whsec_"))
        #expect(try WebhookSecret(generated.description).key == generated.key)
        #expect(generated.key.count == 32)
        #expect(generated.key != WebhookSecret.generate().key)
        for bad in ["", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_AAAA", "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
            #expect(throws: WebhookError.invalidSecret) { try WebhookSecret(bad) }
        }
    }
}
