#if canImport(Glibc)
import Glibc
#endif

/// TCP ports on 127.0.0.1 held by a socket that is bound and not listening: while it is open, a
/// connection to its port is refused (a peer that is down) and no one else can take the port.
public enum LoopbackPort {
    /// Runs `body` with `port` (0: any free one) bound; nil when the port is taken.
    public static func bound<T>(_ port: Int = 0, _ body: (Int) throws -> T) throws -> T? {
        guard let socket = try BoundSocket(port: port) else { return nil }
        defer { socket.close() }
        return try body(socket.port)
    }

    /// Runs `body` with `port` (0: any free one) bound; nil when the port is taken.
    public static func bound<T>(_ port: Int = 0, _ body: (Int) async throws -> T) async throws -> T? {
        guard let socket = try BoundSocket(port: port) else { return nil }
        defer { socket.close() }
        return try await body(socket.port)
    }

    /// Binds `port` (0: any free one) and releases it at once: the port bound, nil when taken.
    public static func bind(_ port: Int = 0) throws -> Int? { try bound(port) { $0 } }

    public struct SocketError: Error, CustomStringConvertible {
        public var description: String { "socket() failed (errno \(errno))" }
    }

    private struct BoundSocket {
        let descriptor: Int32
        let port: Int

        init?(port requested: Int) throws {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw SocketError() }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(requested).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
            }
            guard bound else {
                Glibc.close(descriptor)
                return nil
            }
            self.descriptor = descriptor
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        func close() { Glibc.close(descriptor) }
    }
}
