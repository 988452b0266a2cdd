import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Bytes sent as they are to a server on 127.0.0.1, and all it answers until it closes the
/// connection: for requests no HTTP client would send (a bad request line, a control character
/// in a header, a broken chunk). The socket calls run on a thread of their own, not on the
/// tests' cooperative pool.
public enum RawHTTP {
    /// One response of an exchange, its header names lowercased.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Sends `request` to `port` and returns the responses in the order they came (pipelined
    /// requests get several), once the server closes the connection or `timeout` passes.
    public static func exchange(port: Int, _ request: String, timeout: Duration = .seconds(10)) async throws -> [Response] {
        let bytes = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
            Thread { continuation.resume(with: Result { try send(Array(request.utf8), to: port, timeout: timeout) }) }.start()
        }
        return try parse(bytes)
    }

    private static func send(_ request: [UInt8], to port: Int, timeout: Duration) throws -> [UInt8] {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(descriptor) }
        var wait = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw Failure(description: "cannot connect to port \(port) (errno \(errno))") }
        guard request.withUnsafeBytes({ Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw Failure(description: "send failed (errno \(errno))")
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                answer += buffer[0..<count]
            } else if count == 0 {
                return answer
            } else {
                throw Failure(description: "no close within \(timeout) (errno \(errno)); received: \(String(decoding: answer, as: UTF8.self))")
            }
        }
    }

    /// Responses with a `Content-Length` (all of Baton's here), one after another.
    private static func parse(_ bytes: [UInt8]) throws -> [Response] {
        var rest = Substring(String(decoding: bytes, as: UTF8.self))
        var responses: [Response] = []
        while let end = rest.range(of: "\r\n\r\n") {
            let lines = rest[..<end.lowerBound].components(separatedBy: "\r\n")
            let statusLine = lines[0].split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(description: "not a status line: \(lines[0])") }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            let body = rest[end.upperBound...].utf8.prefix(length)
            responses.append(Response(status: status, headers: headers, body: String(decoding: body, as: UTF8.self)))
            rest = Substring(rest[end.upperBound...].utf8.dropFirst(length))
        }
        return responses
    }
}
