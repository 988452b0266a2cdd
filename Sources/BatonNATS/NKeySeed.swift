import Crypto
import Foundation

/// A user NKey seed read from a file, and the public key nats.c must send with its signature.
///
/// `natsOptions_SetNKeyFromSeed` takes the public key as well as the seed file, but operators
/// hand out only the seed (`nk -gen user > user.nk`): the public key is derived here (Ed25519
/// from the 32-byte seed), and a malformed seed is a clear error at start-up instead of a
/// server's "Authorization Violation". Format (nats-io/nkeys): base32 (RFC 4648, unpadded) of
/// two prefix bytes, the 32 seed bytes and a CRC-16/XMODEM, little-endian.
struct NKeySeed {
    /// The user's public key, `U…`.
    let publicKey: String

    private static let seedPrefix: UInt8 = 18 << 3
    private static let userPrefix: UInt8 = 20 << 3

    /// Reads the seed the way nats.c does: the line under a `-----BEGIN USER NKEY SEED-----`
    /// header, else the first line that starts with `SU`.
    init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw NATSError(.invalidConfiguration, "cannot read the NKey seed file \(file)")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let line = lines.first { $0.hasPrefix("SU") }
        guard let line else { throw NATSError(.invalidConfiguration, "no user NKey seed (SU…) in \(file)") }
        try self.init(seed: line, file: file)
    }

    init(seed: String, file: String = "the seed") throws {
        let invalid = NATSError(.invalidConfiguration, "the NKey seed in \(file) is not a valid user seed")
        guard let raw = Self.base32Decode(seed), raw.count == 36 else { throw invalid }
        let checksum = UInt16(raw[34]) | UInt16(raw[35]) << 8
        guard Self.crc16(raw[0..<34]) == checksum else { throw invalid }
        let prefix = raw[0] & 0xF8
        let type = (raw[0] & 0x07) << 5 | (raw[1] & 0xF8) >> 3
        guard prefix == Self.seedPrefix, type == Self.userPrefix,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw[2..<34])
        else { throw invalid }
        var body = [Self.userPrefix] + Array(key.publicKey.rawRepresentation)
        let crc = Self.crc16(body[...])
        body += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        publicKey = Self.base32Encode(body)
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func base32Encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = buffer << 8 | Int(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: output, as: UTF8.self)
    }

    static func base32Decode(_ text: String) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer = 0, bits = 0
        for character in text.utf8 {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = (buffer << 5 | value) & 0xFFFF
            bits += 5
            if bits >= 8 {
                output.append(UInt8((buffer >> (bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return output
    }

    /// CRC-16/XMODEM (polynomial 0x1021, initial value 0), as nkeys uses.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? crc << 1 ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
