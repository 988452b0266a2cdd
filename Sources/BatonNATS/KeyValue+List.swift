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

extension KeyValueBucket {
    /// The first and last sequence of the bucket's stream (`last` 0: never written); nil when
    /// the bucket does not exist.
    public func sequences() async throws -> (first: UInt64, last: UInt64)? {
        try await jetStream.streamSequences("KV_\(name)")
    }

    /// The entries stored at sequences `from`, `from − 1`, … down to `through` (inclusive),
    /// newest first: one direct get per sequence, all in flight at once. Sequences that hold
    /// nothing (a revision superseded, a key deleted) are skipped, as are delete markers.
    /// For reading a large bucket backwards a window at a time (the job list).
    public func entries(descendingFrom from: UInt64, through: UInt64) async throws -> [KeyValueEntry] {
        guard from >= through else { return [] }
        let stream = "KV_\(name)"
        let prefix = "$KV.\(name)."
        let jetStream = self.jetStream
        let found = try await withThrowingTaskGroup(of: (UInt64, StoredMessage?).self) { group in
            for sequence in through...from {
                group.addTask { (sequence, try await jetStream.message(in: stream, at: sequence)) }
            }
            var found: [UInt64: StoredMessage] = [:]
            for try await (sequence, message) in group { found[sequence] = message }
            return found
        }
        return found.sorted { $0.key > $1.key }.compactMap { _, message in
            guard message.subject.hasPrefix(prefix) else { return nil }
            if let operation = message.headers["KV-Operation"], operation == "DEL" || operation == "PURGE" { return nil }
            var headers = message.headers
            for name in ["Nats-Expected-Last-Subject-Sequence", "Nats-Msg-Id"] { headers[name] = nil }
            return KeyValueEntry(
                key: String(message.subject.dropFirst(prefix.count)), value: message.payload, headers: headers, revision: message.sequence)
        }
    }
}
