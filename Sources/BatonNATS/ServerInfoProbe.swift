import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension NATSConnection {
    /// The release of the server this connection is connected to, or nil if it cannot be read.
    ///
    /// nats.c 3.4.1 keeps the server's `INFO` to itself, so this reads the `INFO` line a server
    /// sends first on any new TCP connection (before TLS and authentication) from the connected
    /// URL's host and port, on the blocking pool, within 2 s.
    public func serverVersion() async -> NATSServerVersion? {
        guard let url = connectedURL, let components = URLComponents(string: url), let host = components.host else { return nil }
        let port = components.port ?? 4222
        return try? await blockingPool.runIfActive { Self.readInfoVersion(host: host, port: port) }
    }

    /// Logs the server's release (a warning when it is older than Baton supports) and returns
    /// what it can do; nil when the release cannot be read.
    @discardableResult
    public func logServerVersion() async -> ServerCapabilities? {
        guard let version = await serverVersion() else { return nil }
        let capabilities = ServerCapabilities(version)
        if capabilities.isSupported {
            logger.info("NATS server", metadata: ["version": "\(version)"])
        } else {
            logger.warning(
                "NATS server older than the oldest Baton supports",
                metadata: ["version": "\(version)", "oldest_supported": "\(ServerCapabilities.oldestSupported)"])
        }
        return capabilities
    }

    private static func readInfoVersion(host: String, port: Int) -> NATSServerVersion? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return nil }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains(UInt8(ascii: "\n")), received.count < 64 * 1024 {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        let line = String(decoding: received.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        guard line.hasPrefix("INFO "),
            let info = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(5).utf8)) as? [String: Any],
            let version = info["version"] as? String
        else { return nil }
        return NATSServerVersion(version)
    }
}
