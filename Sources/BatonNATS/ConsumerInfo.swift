import CNats

/// What a JetStream consumer holds right now (from its consumer info).
public struct ConsumerState: Sendable, Equatable {
    /// Messages in the stream matching the consumer's filter not yet delivered.
    public var numPending: UInt64
    /// Messages delivered and not yet acknowledged (in flight).
    public var numAckPending: Int64
    /// Messages delivered more than once and not yet acknowledged.
    public var numRedelivered: Int64
    /// Pull requests waiting for messages.
    public var numWaiting: Int64
    /// The stream sequence of the last message delivered (0: none yet): a message at or below
    /// it has been delivered at least once.
    public var deliveredStreamSequence: UInt64

    public init(numPending: UInt64, numAckPending: Int64, numRedelivered: Int64, numWaiting: Int64, deliveredStreamSequence: UInt64 = 0) {
        self.numPending = numPending
        self.numAckPending = numAckPending
        self.numRedelivered = numRedelivered
        self.numWaiting = numWaiting
        self.deliveredStreamSequence = deliveredStreamSequence
    }
}

extension JetStream {
    /// The state of durable consumer `consumer` on `stream`, or nil when either does not exist.
    ///
    /// Runs nats.c's blocking `js_GetConsumerInfo` on the connection's blocking pool (like the
    /// other administration calls), never on an event loop or the cooperative pool.
    public func consumerInfo(stream: String, consumer: String) async throws -> ConsumerState? {
        let connection = self.connection
        let waitMilliseconds = max(1, timeout.milliseconds)
        return try await connection.blockingPool.runIfActive { () throws -> ConsumerState? in
            // A context of our own: cheap to make, and the call is rare (catalogue refreshes).
            var js: OpaquePointer? = nil
            var options = jsOptions()
            try check("jsOptions_Init", jsOptions_Init(&options))
            options.Wait = waitMilliseconds
            try check("natsConnection_JetStream", natsConnection_JetStream(&js, connection.handle.pointer, &options))
            defer { jsCtx_Destroy(js) }
            var info: UnsafeMutablePointer<jsConsumerInfo>? = nil
            var errorCode = jsErrCode(rawValue: 0)
            let status = js_GetConsumerInfo(&info, js, stream, consumer, nil, &errorCode)
            if status == NATS_NOT_FOUND { return nil }
            try check("consumer info \(stream)/\(consumer) (err_code \(errorCode.rawValue))", status)
            defer { jsConsumerInfo_Destroy(info) }
            guard let state = info?.pointee else { return nil }
            return ConsumerState(
                numPending: state.NumPending, numAckPending: state.NumAckPending,
                numRedelivered: state.NumRedelivered, numWaiting: state.NumWaiting, deliveredStreamSequence: state.Delivered.Stream)
        }
    }
}
