import Foundation
import NIOCore

extension JetStream {
    /// Deletes message `sequence` of `stream` (`$JS.API.STREAM.MSG.DELETE`, its bytes left for
    /// the store to reclaim: `no_erase`); a consumer then never delivers it, and one that holds
    /// it unacknowledged does not deliver it again. Returns false when the stream has no such
    /// message (acknowledged off a work queue, deleted before, or never stored).
    ///
    /// Through `NATSConnection.request`, so no thread is parked.
    @discardableResult
    public func deleteMessage(stream: String, sequence: UInt64) async throws -> Bool {
        var request = ByteBuffer()
        request.writeString(#"{"seq":\#(sequence),"no_erase":true}"#)
        let reply = try await connection.request(request, to: "$JS.API.STREAM.MSG.DELETE.\(stream)", timeout: timeout)
        let answer = try JSONDecoder().decode(DeleteMessageWire.self, from: Data(reply.payload.readableBytesView))
        if let error = answer.error {
            if error.err_code == Self.sequenceNotFound || error.err_code == Self.noMessageFound { return false }
            throw error.natsError
        }
        return answer.success ?? false
    }

    /// JetStream err_codes: "sequence N not found" (what nats-server 2.9 through 2.15 answer a
    /// delete of a message that is gone), "no message found".
    private static let sequenceNotFound = 10043
    private static let noMessageFound = 10057

    private struct DeleteMessageWire: Decodable {
        var success: Bool?
        var error: JetStreamAPIError?
    }
}
