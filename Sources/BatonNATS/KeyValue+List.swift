import NIOCore

extension KeyValueBucket {
    /// Every live entry of the bucket (the latest value of each key; deleted and purged keys
    /// left out), in stream order, at most `limit`.
    ///
    /// Walks the bucket's stream with direct gets (`JetStream.firstMessage`), one round trip
    /// per key and no thread parked: meant for small buckets such as the service catalogue,
    /// not for the job records.
    public func entries(limit: Int = 10_000) async throws -> [KeyValueEntry] {
        let stream = "KV_\(name)"
        let prefix = "$KV.\(name)."
        var entries: [KeyValueEntry] = []
        var sequence: UInt64 = 1
        while entries.count < limit,
            let message = try await jetStream.firstMessage(in: stream, matching: prefix + ">", from: sequence)
        {
            sequence = message.sequence + 1
            if let operation = message.headers["KV-Operation"], operation == "DEL" || operation == "PURGE" { continue }
            guard message.subject.hasPrefix(prefix) else { continue }
            var headers = message.headers
            for name in ["Nats-Expected-Last-Subject-Sequence", "Nats-Msg-Id"] { headers[name] = nil }
            entries.append(KeyValueEntry(
                key: String(message.subject.dropFirst(prefix.count)), value: message.payload,
                headers: headers, revision: message.sequence))
        }
        return entries
    }

    /// The keys that have a value, in stream order.
    public func keys(limit: Int = 10_000) async throws -> [String] {
        try await entries(limit: limit).map(\.key)
    }
}
