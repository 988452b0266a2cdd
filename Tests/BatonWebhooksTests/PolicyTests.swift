import Testing
@testable import BatonWebhooks

@Suite struct PolicyTests {
    let strict = try! WebhookPolicy(allow: [])

    @Test func schemes() throws {
        let target = try strict.checkSyntax("https://Example.COM/hooks/baton?x=1#frag")
        #expect(target == WebhookTarget(url: "https://example.com/hooks/baton?x=1", scheme: "https", host: "example.com", port: 443, addresses: []))
        #expect(try strict.checkSyntax("http://example.com:8080").port == 8080)
        #expect(try strict.checkSyntax("HTTP://example.com./x").url == "http://example.com/x")
        #expect(throws: WebhookError.unsupportedScheme("ftp")) { try strict.checkSyntax("ftp://example.com/x") }
        #expect(throws: WebhookError.unsupportedScheme("gopher")) { try strict.checkSyntax("gopher://example.com/") }
        #expect(throws: WebhookError.unsupportedScheme("file")) { try strict.checkSyntax("file:///etc/passwd") }
    }

    @Test func malformed() {
        for url in [
            "", "example.com/hook", "http://", "http:///x", "http://exa mple.com/", "http://example.com:0/", "http://example.com:99999/",
            "http://user:pw@example.com/", "http://example.com@10.0.0.1/", "http://ex_ample..com/", "http://exämple.com/",
            "http://[::1/", "http://[fe80::1%25eth0]/", "http://127.1/", "http://0x7f000001/", "http://2130706433/", "http://1.2.3/", "http://93.184.216.034/",
            "http:/example.com/", "http:\\\\example.com/", "https//example.com",
        ] {
            #expect(throws: WebhookError.self, "\(url)") { try strict.checkSyntax(url) }
        }
    }

    @Test func refusedByDefaultAllowedWhenListed() throws {
        let cases: [(url: String, allow: String)] = [
            ("http://127.0.0.1:8080/hook", "127.0.0.0/8"),
            ("http://10.1.2.3/", "10.0.0.0/8"),
            ("http://192.168.1.1/", "192.168.1.1"),
            ("http://169.254.169.254/latest/meta-data", "169.254.0.0/16"),
            ("http://[::1]:9090/", "::1/128"),
            ("http://[fe80::1]/", "fe80::/10"),
            ("http://localhost:9090/", "localhost"),
            ("http://hooks.localhost/", "hooks.localhost"),
            ("http://172.16.0.1/", "172.16.0.0/12"),
            ("http://100.64.0.1/", "100.64.0.0/10"),
            ("http://0.0.0.0/", "0.0.0.0/8"),
            ("http://[::]/", "::/128"),
            ("http://224.0.0.1/", "224.0.0.0/4"),
            ("http://[fd00::1]/", "fc00::/7"),
            ("http://[ff02::1]/", "ff00::/8"),
            ("http://[::ffff:127.0.0.1]/", "127.0.0.0/8"),
            ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254/32"),
            ("http://[64:ff9b::10.0.0.1]/", "10.0.0.0/8"),
        ]
        for (url, allow) in cases {
            #expect(throws: WebhookError.self, "\(url)") { try strict.checkSyntax(url) }
            do {
                _ = try strict.checkSyntax(url)
            } catch let error as WebhookError {
                guard case .refusedTarget = error else {
                    Issue.record("\(url): \(error)")
                    continue
                }
            }
            let allowing = try WebhookPolicy(allow: [allow])
            #expect(throws: Never.self, "\(url) with \(allow)") { try allowing.checkSyntax(url) }
        }
    }

    @Test func publicAddresses() throws {
        let target = try strict.checkSyntax("http://93.184.216.34/hook")
        #expect(target.addresses == ["93.184.216.34"])
        #expect(try strict.checkSyntax("https://[2606:2800:220:1:248:1893:25c8:1946]/").addresses == ["2606:2800:220:1:248:1893:25c8:1946"])
        #expect(try strict.checkSyntax("http://172.32.0.1/").host == "172.32.0.1")
        #expect(try strict.checkSyntax("http://100.128.0.1/").host == "100.128.0.1")
    }

    @Test func allowEntries() throws {
        let loopback = try WebhookPolicy(allow: WebhookPolicy.loopback)
        #expect(throws: Never.self) { try loopback.checkSyntax("http://127.0.0.1:1/") }
        #expect(throws: Never.self) { try loopback.checkSyntax("http://[::1]:1/") }
        #expect(throws: Never.self) { try loopback.checkSyntax("http://localhost:1/") }
        #expect(throws: WebhookError.self) { try loopback.checkSyntax("http://10.0.0.1/") }
        for bad in ["10.0.0.0/33", "::1/129", "not a host", "http://x/", "10.0.0.0/", "/8", "", "*.internal"] {
            #expect(throws: WebhookError.invalidAllowEntry(bad)) { try WebhookPolicy(allow: [bad]) }
        }
    }

    @Test func resolve() async throws {
        // "localhost" resolves (via /etc/hosts) to loopback addresses: refused, unless allowed.
        await #expect(throws: WebhookError.self) { try await strict.resolve("http://localhost/") }
        let loopback = try WebhookPolicy(allow: WebhookPolicy.loopback)
        let target = try await loopback.resolve("http://localhost:8080/hook")
        #expect(!target.addresses.isEmpty)
        #expect(target.addresses.allSatisfy { $0 == "127.0.0.1" || $0 == "::1" })
        // A name allowed only by range: the name itself is not "localhost", so test with an IP literal.
        #expect(try await loopback.resolve("http://127.0.0.1:1/").addresses == ["127.0.0.1"])
        await #expect(throws: WebhookError.self) { try await strict.resolve("http://no-such-host.invalid/") }
    }

    @Test func cidr() throws {
        let range = try #require(CIDR("10.1.2.3/8"))
        #expect(range.description == "10.0.0.0/8")
        #expect(range.contains(try #require(IPAddress("10.255.0.1"))))
        #expect(!range.contains(try #require(IPAddress("11.0.0.1"))))
        #expect(!range.contains(try #require(IPAddress("::ffff:10.0.0.1"))))
        #expect(IPAddress("::ffff:10.0.0.1")?.embeddedIPv4 == IPAddress("10.0.0.1"))
        #expect(IPAddress("::1")?.embeddedIPv4 == nil)
        #expect(try #require(CIDR("fe80::/10")).contains(try #require(IPAddress("febf::1"))))
        #expect(IPAddress("[::1]")?.description == "::1")
    }
}
