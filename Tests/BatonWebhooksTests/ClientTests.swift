import BatonTestSupport
import Testing
@testable import BatonWebhooks

/// WebhookClient against a real HTTP server on 127.0.0.1.
@Suite struct ClientTests {
    let policy = try! WebhookPolicy(allow: WebhookPolicy.loopback)
    let signer = WebhookSigner(secret: .generate())

    @Test func deliversBodyAndHeaders() async throws {
        try await withServer { server in
            let client = WebhookClient(maxConcurrent: 2, connectTimeout: .seconds(2), totalTimeout: .seconds(2))
            let target = try await policy.resolve(server.url("/ok"))
            let body = Array(#"{"id":"job_1","state":"succeeded"}"#.utf8)
            let headers = signer.headers(id: "msg_1", timestamp: 1_700_000_000, body: body)
            let response = await client.post(to: target, headers: headers, body: body)
            #expect(response.status == 200)
            #expect(response.isSuccess)
            #expect(response.error == nil)
            #expect(response.retryAfter == nil)
            #expect(response.duration > .zero && response.duration < .seconds(2))
            let received = try #require(server.received.first)
            #expect(received.body == body)
            #expect(received.headers["webhook-id"] == "msg_1")
            #expect(received.headers["webhook-timestamp"] == "1700000000")
            #expect(received.headers["webhook-signature"] == headers[2].value)
            #expect(received.headers["content-type"] == "application/json")
            #expect(received.headers["user-agent"] == "baton-webhooks/1")
            let signature = try #require(received.headers["webhook-signature"])
            #expect(signer.verify(id: "msg_1", timestamp: 1_700_000_000, body: received.body, signatureHeader: signature, now: 1_700_000_000))
            await client.shutdown()
        }
    }

    @Test func largeBodiesGoOutWithoutWaitingFor100Continue() async throws {
        try await withServer { server in
            let client = WebhookClient(maxConcurrent: 1, totalTimeout: .seconds(3))
            let body = [UInt8](repeating: 0x7a, count: 200_000)
            let response = await client.post(to: try await policy.resolve(server.url("/ok")), headers: [], body: body)
            #expect(response.status == 200)
            #expect(server.received.first?.body == body)
            // No Expect header, so libcurl 7.x cannot wait 1 s for "100 Continue". (No bound on
            // the duration: a loaded box took 1.05 s.)
            #expect(server.received.first?.headers["expect"] == nil)
            await client.shutdown()
        }
    }

    @Test func retryAfterOn503And429() async throws {
        try await withServer { server in
            let client = WebhookClient(maxConcurrent: 2, totalTimeout: .seconds(2))
            let unavailable = await client.post(to: try await policy.resolve(server.url("/unavailable")), headers: [], body: [])
            #expect(unavailable.status == 503)
            #expect(unavailable.retryAfter == .seconds(7))
            #expect(unavailable.error == "HTTP 503")
            #expect(!unavailable.isSuccess)
            let throttled = await client.post(to: try await policy.resolve(server.url("/throttled")), headers: [], body: [1, 2])
            #expect(throttled.status == 429)
            #expect(throttled.retryAfter == .zero)  // An HTTP date in the past.
            await client.shutdown()
        }
    }

    @Test func totalTimeout() async throws {
        try await withServer { server in
            let client = WebhookClient(maxConcurrent: 2, connectTimeout: .seconds(1), totalTimeout: .seconds(1))
            let response = await client.post(to: try await policy.resolve(server.url("/slow")), headers: [], body: [])
            // Cut off by the 1 s total timeout, before /slow answers (30 s): no status, a timeout
            // error. (Not a wall-clock bound: the suite runs in parallel, and a loaded box
            // delays when this task resumes, not when libcurl gives up.)
            #expect(response.status == nil)
            #expect(response.error?.contains("imed out") == true, "\(response.error ?? "")")
            await client.shutdown()
        }
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        try await withServer { server in
            let client = WebhookClient(maxConcurrent: 2, totalTimeout: .seconds(60))
            let target = try await policy.resolve(server.url("/slow"))
            let clock = ContinuousClock()
            let start = clock.now
            let task = Task { await client.post(to: target, headers: [], body: []) }
            try await waitUntil(timeout: .seconds(5)) { server.received.count == 1 }  // the transfer is under way
            task.cancel()
            let response = await task.value
            // Cut off by the cancellation long before /slow answers (30 s) or the total timeout
            // (60 s) ends it: a loaded machine cannot fail it.
            #expect(clock.now - start < .seconds(20))
            #expect(response.status == nil)
            #expect(response.error == "cancelled")
            await client.shutdown()
        }
    }

    @Test func redirectsAreNotFollowed() async throws {
        try await withServer { server in
            let client = WebhookClient(maxConcurrent: 2, totalTimeout: .seconds(2))
            let response = await client.post(to: try await policy.resolve(server.url("/redirect")), headers: [], body: [])
            #expect(response.status == 302)
            #expect(!response.isSuccess)
            #expect(server.received.map(\.path) == ["/redirect"])
            await client.shutdown()
        }
    }

    @Test func largeResponseBodiesAreCutOff() async throws {
        try await withServer { server in
            let client = WebhookClient(maxConcurrent: 2, totalTimeout: .seconds(2))
            let response = await client.post(to: try await policy.resolve(server.url("/big")), headers: [], body: [])
            #expect(response.status == 200)
            #expect(response.error == nil)
            await client.shutdown()
        }
    }

    @Test func connectionRefused() async throws {
        // A port bound and not listening refuses connections.
        let client = WebhookClient(maxConcurrent: 2, connectTimeout: .seconds(1), totalTimeout: .seconds(2))
        let bound = try await LoopbackPort.bound { port in
            await client.post(to: try await policy.resolve("http://127.0.0.1:\(port)/hook"), headers: [], body: [])
        }
        let response = try #require(bound)
        #expect(response.status == nil)
        #expect(response.error?.isEmpty == false)
        await client.shutdown()
    }

    @Test func pinnedNameAndConcurrency() async throws {
        try await withServer { server in
            // "localhost" is pinned to its resolved addresses (::1 refuses, 127.0.0.1 answers).
            let client = WebhookClient(maxConcurrent: 2, totalTimeout: .seconds(3))
            let target = try await policy.resolve("http://localhost:\(server.port)/ok")
            let responses = await withTaskGroup(of: WebhookResponse.self) { group in
                for index in 0..<6 { group.addTask { await client.post(to: target, headers: [], body: [UInt8(index)]) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(responses.map(\.status) == Array(repeating: 200, count: 6))
            #expect(Set(server.received.map(\.body)) == Set((0..<6).map { [UInt8($0)] }))
            await client.shutdown()
        }
    }

    @Test func pinnedAddressesNeedNoDNS() async throws {
        try await withServer { server in
            // ".invalid" never resolves: the delivery can only arrive through the pinned addresses
            // (an IPv6 one first, in brackets, which refuses; then 127.0.0.1).
            let client = WebhookClient(maxConcurrent: 1, totalTimeout: .seconds(2))
            var target = try WebhookPolicy(allow: []).checkSyntax("http://hooks.baton.invalid:\(server.port)/ok")
            target.addresses = ["::1", "127.0.0.1"]
            let response = await client.post(to: target, headers: [], body: [7])
            #expect(response.status == 200, "\(response.error ?? "")")
            #expect(server.received.map(\.body) == [[7]])
            await client.shutdown()
        }
    }

    @Test func connectsOnlyToTheTargetAddresses() async throws {
        try await withServer { server in
            let client = WebhookClient(maxConcurrent: 1, totalTimeout: .seconds(2))
            var target = try await policy.resolve(server.url("/ok"))
            target.addresses = ["127.0.0.2"]  // Not where the URL points.
            let response = await client.post(to: target, headers: [], body: [])
            #expect(response.status == nil)
            #expect(response.error?.contains("refused to connect to 127.0.0.1") == true, "\(response.error ?? "")")
            target.addresses = []
            #expect(await client.post(to: target, headers: [], body: []).error?.contains("WebhookPolicy.resolve") == true)
            #expect(server.received.isEmpty)
            await client.shutdown()
        }
    }

    @Test func invalidHeadersAndShutdown() async throws {
        let client = WebhookClient(maxConcurrent: 1)
        let target = try policy.checkSyntax("http://127.0.0.1:1/")
        let injected = await client.post(to: target, headers: [(name: "X-A", value: "1\r\nX-B: 2")], body: [])
        #expect(injected.status == nil && injected.error != nil)
        let badName = await client.post(to: target, headers: [(name: "X A", value: "1")], body: [])
        #expect(badName.error != nil)
        await client.shutdown()
        await client.shutdown()
        #expect(await client.post(to: target, headers: [], body: []).error == "webhook client is shut down")
    }

    @Test func retryAfterParsing() {
        #expect(RetryAfter.parse("120") == .seconds(120))
        #expect(RetryAfter.parse(" 7 ") == .seconds(7))
        #expect(RetryAfter.parse("Wed, 21 Oct 2015 07:28:00 GMT", now: 1_445_412_470) == .seconds(10))
        #expect(RetryAfter.parse("soon") == nil)
        #expect(RetryAfter.parse("") == nil)
    }
}
