import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// getaddrinfo, run on `NIOThreadPool.singleton` so that a slow resolver never blocks the caller
/// (in particular never a NIO event loop).
enum HostResolver {
    /// The distinct addresses of `host` (TCP), in the resolver's order.
    static func resolve(_ host: String) async throws -> [IPAddress] {
        let result: Result<[IPAddress], WebhookError> = try await NIOThreadPool.singleton.runIfActive {
            resolveBlocking(host)
        }
        return try result.get()
    }

    static func resolveBlocking(_ host: String) -> Result<[IPAddress], WebhookError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let list else {
            return .failure(.unresolvableHost("\(host): \(String(cString: gai_strerror(status)))"))
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var next: UnsafeMutablePointer<addrinfo>? = list
        while let entry = next {
            if let sockaddr = entry.pointee.ai_addr,
               let address = IPAddress(sockaddr: UnsafeRawPointer(sockaddr), length: Int(entry.pointee.ai_addrlen)),
               !addresses.contains(address) {
                addresses.append(address)
            }
            next = entry.pointee.ai_next
        }
        guard !addresses.isEmpty else { return .failure(.unresolvableHost("\(host): no addresses")) }
        return .success(addresses)
    }
}
