import Foundation
import NIOCore

extension JetStream {
    /// Deletes message `sequence` of `stream` (`$JS.API.STREAM.MSG.DELETE`, its bytes left for
    /// the store to reclaim: `no_erase`); a consumer then never delivers it, and one that holds
    /// it unacknowledged does not deliver it again. Returns false when the stream has no such
    /// message (acknowledged off a work queue, deleted before, or never stored).
    @discardableResult
    public func deleteMessage(stream: String, sequence: UInt64) async throws -> Bool {
        var request = ByteBuffer()
        request.writeString(#"{"seq":\#(sequence),"no_erase":true}"#)
        return try await deleteRequest(
            "$JS.API.STREAM.MSG.DELETE.\(stream)", request,
            absent: [NATSError.jsSequenceNotFound, NATSError.jsNoMessageFound, NATSError.jsStreamNotFound])
    }

    /// A JetStream API delete (`$JS.API.*.DELETE.*`): true when it deleted something, false when
    /// the server says what it names is absent (an error code of `absent`), else its error.
    ///
    /// Through `NATSConnection.request`, so no thread is parked.
    func deleteRequest(_ subject: String, _ request: ByteBuffer = ByteBuffer(), absent: Set<Int>) async throws -> Bool {
        let reply = try await connection.request(request, to: subject, timeout: timeout)
        let answer = try JSONDecoder().decode(DeleteWire.self, from: Data(reply.payload.readableBytesView))
        if let error = answer.error {
            if let code = error.err_code, absent.contains(code) { return false }
            throw error.natsError
        }
        return answer.success ?? false
    }

    private struct DeleteWire: Decodable {
        var success: Bool?
        var error: JetStreamAPIError?
    }
}
