import NIOCore

extension NATSConnection {
    /// Sends one request and gathers every reply that comes within `timeout` (scatter-gather,
    /// e.g. `$SRV.INFO` answered by each NATS micro-service instance).
    ///
    /// Subscribes to a fresh inbox subject, publishes with it as the reply subject, and collects
    /// until `timeout` passes or `maxReplies` replies came. Returns early with no replies when
    /// the server says nobody subscribes to `subject`. Never parks a thread; cancelling the task
    /// returns what came so far.
    ///
    /// - Parameters:
    ///   - maxReplies: stop after this many replies (nil: wait the whole `timeout`).
    /// - Returns: the replies in arrival order (server status messages left out).
    public func requestMany(
        _ payload: ByteBuffer, to subject: String, headers: NATSHeaders = [:], timeout: Duration, maxReplies: Int? = nil
    ) async throws -> [NATSMessage] {
        if let maxReplies, maxReplies <= 0 { return [] }
        let inbox = try NATSConnection.makeInbox()
        let limit = maxReplies.map { min($0, configuration.subscriptionBufferLimit) } ?? configuration.subscriptionBufferLimit
        let subscription = try subscribe(to: inbox, bufferLimit: limit)
        defer { subscription.unsubscribe() }
        try publish(NATSMessage(subject: subject, replyTo: inbox, headers: headers, payload: payload))

        return await withTaskGroup(of: [NATSMessage]?.self) { group in
            // The collector returns what it has when it is done or cancelled; the timer, nil.
            group.addTask {
                var replies: [NATSMessage] = []
                for await message in subscription {
                    if message.isNoResponders { break }
                    if message.status != nil, message.payload.readableBytes == 0 { continue }
                    replies.append(message)
                    if let maxReplies, replies.count >= maxReplies { break }
                }
                return replies
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            var collected: [NATSMessage] = []
            while let finished = await group.next() {
                group.cancelAll()
                if let finished { collected = finished }
            }
            return collected
        }
    }
}
