import Foundation
import NIOCore

extension JetStream {
    /// Deletes durable consumer `name` of `stream` if it exists and, when `filterSubject` is
    /// given, only if its filter is exactly that (so a consumer of the same name that is not the
    /// one meant is left alone). Idempotent; returns true when it deleted something.
    ///
    /// Speaks the JetStream API (`$JS.API.CONSUMER.INFO` / `.DELETE`) through
    /// `NATSConnection.request`, so no thread is parked.
    @discardableResult
    public func deleteConsumer(stream: String, name: String, ifFilterSubject filterSubject: String? = nil) async throws -> Bool {
        if let filterSubject {
            let reply = try await connection.request(ByteBuffer(), to: "$JS.API.CONSUMER.INFO.\(stream).\(name)", timeout: timeout)
            let info = try JSONDecoder().decode(ConsumerInfoWire.self, from: Data(reply.payload.readableBytesView))
            if let error = info.error {
                if error.err_code == NATSError.jsConsumerNotFound || error.err_code == NATSError.jsStreamNotFound { return false }
                throw error.natsError
            }
            guard info.config?.filter_subject == filterSubject else { return false }
        }
        return try await deleteRequest(
            "$JS.API.CONSUMER.DELETE.\(stream).\(name)", absent: [NATSError.jsConsumerNotFound, NATSError.jsStreamNotFound])
    }

    private struct ConsumerInfoWire: Decodable {
        struct Config: Decodable { var filter_subject: String? }
        var config: Config?
        var error: JetStreamAPIError?
    }
}
