import NIOCore

extension KeyValueBucket {
    /// Every live entry of the bucket (the latest value of each key; deleted and purged keys
    /// left out), in stream order, at most `limit`.
    ///
    /// Walks the bucket's stream with direct gets (`JetStream.firstMessage`), one round trip
    /// per key and no thread parked: meant for small buckets such as the service catalogue,
    /// not for the job records.
    public func entries(limit: Int = 10_000) async throws -> [KeyValueEntry] {
        var entries: [KeyValueEntry] = []
        var sequence: UInt64 = 1
        while entries.count < limit,
            let message = try await jetStream.firstMessage(in: streamName, matching: subjectPrefix + ">", from: sequence)
        {
            sequence = message.sequence + 1
            if let entry = entry(from: message) { entries.append(entry) }
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
        try await jetStream.streamSequences(streamName)
    }

    /// The entries stored at sequences `from`, `from − 1`, … down to `through` (inclusive),
    /// newest first: one direct get per sequence, all in flight at once. Sequences that hold
    /// nothing (a revision superseded, a key deleted) are skipped, as are delete markers.
    /// For reading a large bucket backwards a window at a time (the job list).
    public func entries(descendingFrom from: UInt64, through: UInt64) async throws -> [KeyValueEntry] {
        guard from >= through else { return [] }
        let stream = streamName
        let jetStream = self.jetStream
        let found = try await withThrowingTaskGroup(of: (UInt64, StoredMessage?).self) { group in
            for sequence in through...from {
                group.addTask { (sequence, try await jetStream.message(in: stream, at: sequence)) }
            }
            var found: [UInt64: StoredMessage] = [:]
            for try await (sequence, message) in group { found[sequence] = message }
            return found
        }
        return found.sorted { $0.key > $1.key }.compactMap { entry(from: $0.value) }
    }

    /// The entry a message of the bucket's stream holds; nil for a delete or purge marker or a
    /// subject outside the bucket.
    func entry(from message: StoredMessage) -> KeyValueEntry? {
        guard message.subject.hasPrefix(subjectPrefix) else { return nil }
        return Self.entry(
            String(message.subject.dropFirst(subjectPrefix.count)), value: message.payload, stored: message.headers, revision: message.sequence)
    }
}
