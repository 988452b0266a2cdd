import BatonTestSupport
import Synchronization
import Testing
@testable import BatonHTTPClient

#if canImport(Glibc)
import Glibc
#endif

/// HTTPClient against a real HTTP server on 127.0.0.1 (no NATS, no gateway).
@Suite struct HTTPClientTests {
    private func get(_ url: String) -> HTTPClient.Request {
        HTTPClient.Request(method: "GET", url: url, userAgent: "baton-tests", timeout: .seconds(5))
    }

    @Test func sendCollectsTheWholeAnswer() async throws {
        try await withServer { server in
            let client = HTTPClient(maxConcurrent: 2)
            let response = try await client.send(get(server.url("/hello")))
            #expect(response.head.status == 200)
            #expect(response.head.values("x-twice") == ["a", "b"])
            #expect(response.body == Array("hello".utf8))
            #expect(response.duration > .zero)
            await client.shutdown()
        }
    }

    @Test func methodsAndBodiesWithoutWaitingFor100Continue() async throws {
        try await withServer { server in
            let client = HTTPClient(maxConcurrent: 2)
            let body = [UInt8](repeating: 0x7a, count: 200_000)
            for method in ["PUT", "POST"] {
                let request = HTTPClient.Request(method: method, url: server.url("/echo"), body: body, userAgent: "baton-tests", timeout: .seconds(5))
                let response = try await client.send(request)
                #expect(response.head.values("x-method") == [method])
                #expect(response.head.values("x-user-agent") == ["baton-tests"])
                #expect(response.head.values("x-expect") == ["none"])
                #expect(response.body == body)
                // The Expect header is what libcurl 7.x would wait for "100 Continue" on (1 s): it
                // is not sent. (No bound on the duration: a loaded box took 1.09 s.)
            }
            await client.shutdown()
        }
    }

    @Test func startStreamsTheBodyAsItArrives() async throws {
        try await withServer { server in
            let client = HTTPClient(maxConcurrent: 1)
            let (parts, input) = AsyncStream.makeStream(of: String.self)
            let sink = HTTPClient.Sink(
                head: { input.yield("head \($0.status)") },
                body: { input.yield(String(decoding: $0, as: UTF8.self)) })
            var request = get(server.url("/stream"))
            request.timeout = nil
            client.start(request, sink: sink) { outcome in
                input.yield((try? outcome.result.get()).map { "end \($0.status)" } ?? "failed")
                input.finish()
            }
            var received: [String] = []
            for await part in parts { received.append(part) }
            #expect(received.first == "head 200")
            #expect(received.last == "end 200")
            #expect(received.dropFirst().dropLast().joined() == "one\ntwo\nthree\n")
            // 300 ms apart: each line arrives by itself, before the stream ends.
            #expect(received.contains("one\n"))
            await client.shutdown()
        }
    }

    @Test func idleTimeoutEndsASilentStream() async throws {
        try await withServer { server in
            let client = HTTPClient(maxConcurrent: 1)
            var request = get(server.url("/silent"))
            request.timeout = nil
            request.idleTimeout = .seconds(1)
            let outcome = await client.perform(request)
            #expect(throws: HTTPClientError(.timedOut, "nothing received for 1.0 seconds")) { try outcome.result.get() }
            await client.shutdown()
        }
    }

    @Test func cancellingTheTaskOrTheTransferAbortsIt() async throws {
        try await withServer { server in
            let client = HTTPClient(maxConcurrent: 2)
            let request = get(server.url("/slow"))
            let clock = ContinuousClock()
            let start = clock.now
            let task = Task { await client.perform(request) }
            try await waitUntil(timeout: .seconds(5)) { server.requests == 1 }  // the transfer is under way
            task.cancel()
            await #expect(throws: HTTPClientError(.cancelled, "cancelled")) { try await task.value.result.get() }

            let (ends, input) = AsyncStream.makeStream(of: HTTPClient.Outcome.self)
            let transfer = client.start(request, sink: .discard) { input.yield($0) }
            try await waitUntil(timeout: .seconds(5)) { server.requests == 2 }
            transfer.cancel()
            var iterator = ends.makeAsyncIterator()
            let outcome = try #require(await iterator.next())
            #expect(throws: HTTPClientError(.cancelled, "cancelled")) { try outcome.result.get() }
            // Both cut off long before /slow answers (30 s): a loaded machine cannot fail it (with
            // /slow at 5 s a loaded CI box once took 5.7 s).
            #expect(clock.now - start < .seconds(20))
            await client.shutdown()
        }
    }

    @Test func bodyLimitStopsTheTransferAsComplete() async throws {
        try await withServer { server in
            let client = HTTPClient(maxConcurrent: 1)
            var request = get(server.url("/big"))
            request.responseBodyLimit = 64 * 1024
            let response = try await client.send(request)
            #expect(response.head.status == 200)
            #expect(response.body.count <= 64 * 1024)
            await client.shutdown()
        }
    }

    @Test func pinnedAddressesAndTheSocketFilter() async throws {
        try await withServer { server in
            let client = HTTPClient(maxConcurrent: 1)
            // ".invalid" never resolves: only the pinned address can answer.
            var pinned = get("http://pinned.baton.invalid:\(server.port)/hello")
            pinned.resolve = ["pinned.baton.invalid:\(server.port):127.0.0.1"]
            let status = try await client.send(pinned).head.status
            #expect(status == 200)

            let asked = Mutex<[Int]>([])
            var refused = get(server.url("/hello"))
            refused.socketFilter = { _, length in
                asked.withLock { $0.append(length) }
                return "not this one"
            }
            await #expect(throws: HTTPClientError(.refusedAddress, "not this one")) { try await client.perform(refused).result.get() }
            #expect(asked.withLock { $0 } == [MemoryLayout<sockaddr_in>.size])
            #expect(server.requests == 1)
            await client.shutdown()
        }
    }

    @Test func connectionRefusedAndShutdown() async throws {
        // A port bound and not listening refuses connections.
        let client = HTTPClient(maxConcurrent: 1)
        let refusedRequest = try await LoopbackPort.bound { port in
            let request = get("http://127.0.0.1:\(port)/")
            let refused = await client.perform(request)
            #expect(refused.duration > .zero)
            #expect(throws: HTTPClientError.self) { try refused.result.get() }
            if case .failure(let error) = refused.result { #expect(error.kind == .transfer && !error.description.isEmpty) }
            return request
        }
        let request = try #require(refusedRequest)

        await client.shutdown()
        await client.shutdown()
        await #expect(throws: HTTPClientError(.shutDown, "HTTP client is shut down")) { try await client.perform(request).result.get() }
        let ended = Mutex<HTTPClient.Outcome?>(nil)
        client.start(request, sink: .discard) { outcome in ended.withLock { $0 = outcome } }
        #expect(ended.withLock { $0 }?.result.error?.kind == .shutDown)  // At once, without a thread.
    }

    @Test func curlURLAndHTTPDates() throws {
        let url = try CurlURL("http://example.com:8080/a?b=1#part")
        #expect(url.get(.scheme) == "http")
        #expect(url.get(.host) == "example.com")
        #expect(url.get(.port) == "8080")
        #expect(url.get(.user) == nil)
        #expect(url.set(.fragment, nil))
        #expect(url.get(.url) == "http://example.com:8080/a?b=1")
        #expect(try CurlURL("https://example.com/").get(.port, defaultPort: true) == "443")
        #expect(throws: HTTPClientError.self) { try CurlURL("nope://example.com/") }
        #expect(try CurlURL("nope://example.com/", allowsUnknownScheme: true).get(.scheme) == "nope")

        #expect(HTTPDate.secondsSince1970("Wed, 21 Oct 2015 07:28:00 GMT") == 1_445_412_480)
        #expect(HTTPDate.secondsSince1970("soon") == nil)
    }
}

extension Result {
    fileprivate var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
