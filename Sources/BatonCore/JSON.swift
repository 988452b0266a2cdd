import Foundation
import NIOCore

/// JSON encoding and decoding in one place (sorted keys, unescaped slashes).
public enum JSON {
    public static func encode<T: Encodable>(_ value: T) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ByteBuffer(data: try encoder.encode(value))
    }

    /// A job record, written by hand (`JobRecord.json`): the same bytes, much cheaper.
    public static func encode(_ record: JobRecord) -> ByteBuffer {
        record.json()
    }

    public static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
    }
}
