#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address, parsed strictly (inet_pton: no "127.1", no octal).
struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    let bytes: [UInt8]

    var isIPv4: Bool { bytes.count == 4 }

    init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// "1.2.3.4", "::1" or "[::1]"; nil for anything else (including zone ids like "fe80::1%eth0").
    init?(_ string: String) {
        var text = string
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    /// The IPv4 address inside an IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96, not :: or
    /// ::1) or NAT64 (64:ff9b::/96) IPv6 address: it reaches that IPv4 host.
    var embeddedIPv4: IPAddress? {
        guard bytes.count == 16 else { return nil }
        let head = Array(bytes[0..<12])
        let tail = Array(bytes[12..<16])
        let mapped = [UInt8](repeating: 0, count: 10) + [0xff, 0xff]
        let nat64: [UInt8] = [0x00, 0x64, 0xff, 0x9b] + [UInt8](repeating: 0, count: 8)
        let compatible = [UInt8](repeating: 0, count: 12)
        if head == mapped || head == nat64 { return IPAddress(bytes: tail) }
        if head == compatible, tail[0] != 0 || tail[1] != 0 || tail[2] != 0 || tail[3] > 1 { return IPAddress(bytes: tail) }
        return nil
    }

    /// inet_ntop's canonical text ("::1", "127.0.0.1").
    var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = isIPv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The address in a sockaddr of family AF_INET or AF_INET6 (`length` bytes long).
    init?(sockaddr pointer: UnsafeRawPointer, length: Int) {
        guard length >= MemoryLayout<sa_family_t>.size else { return nil }
        let family = Int32(pointer.loadUnaligned(fromByteOffset: 0, as: sa_family_t.self))
        if family == AF_INET, length >= MemoryLayout<sockaddr_in>.size {
            var address = pointer.loadUnaligned(as: sockaddr_in.self).sin_addr
            self.init(bytes: withUnsafeBytes(of: &address) { Array($0) })
        } else if family == AF_INET6, length >= MemoryLayout<sockaddr_in6>.size {
            var address = pointer.loadUnaligned(as: sockaddr_in6.self).sin6_addr
            self.init(bytes: withUnsafeBytes(of: &address) { Array($0) })
        } else {
            return nil
        }
    }
}

/// An address range: "10.0.0.0/8", "::1/128"; a bare address is a range of one.
struct CIDR: Sendable, Hashable, CustomStringConvertible {
    let network: IPAddress
    let prefixLength: Int

    init?(_ string: String) {
        let parts = string.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(parts[1]), value <= bits
            else { return nil }
            length = value
        }
        self.init(network: address, prefixLength: length)
    }

    init(network: IPAddress, prefixLength: Int) {
        // Keep only the prefix bits, so "10.1.2.3/8" means 10.0.0.0/8.
        var bytes = network.bytes
        for index in bytes.indices {
            let keep = min(max(prefixLength - index * 8, 0), 8)
            bytes[index] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        self.network = IPAddress(bytes: bytes) ?? network
        self.prefixLength = prefixLength
    }

    func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        return CIDR(network: address, prefixLength: prefixLength).network == network
    }

    var description: String { "\(network)/\(prefixLength)" }
}
