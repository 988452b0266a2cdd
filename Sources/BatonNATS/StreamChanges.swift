import CNats

/// A change `JetStream.ensureStream` did not make to a stream that exists, because making it
/// could delete messages, or because the server cannot make it in place.
public struct RefusedStreamChange: Sendable, Hashable, CustomStringConvertible {
    public var stream: String
    /// The stream configuration field, as the server names it (`max_msgs_per_subject`).
    public var field: String
    public var current: String
    public var asked: String
    public var reason: String

    public var description: String { "\(stream): \(field) stays \(current), not \(asked) (\(reason))" }
}

/// What `JetStream.ensureStream` did.
public struct StreamOutcome: Sendable {
    /// The configuration the stream has now.
    public var spec: StreamSpec
    public var created: Bool
    /// True when an existing stream was updated (a change that deletes nothing).
    public var updated: Bool
    /// What was asked and not done.
    public var refused: [RefusedStreamChange]
}

extension StreamSpec {
    /// How Baton changes a stream that exists: it makes every change that cannot delete a
    /// message and refuses the others, keeping the stream's current value.
    ///
    /// - Limits (`max_msgs_per_subject`, `max_msgs`, `max_bytes`, `max_age`) are only raised.
    ///   Lowering one below what the stream holds deletes the oldest messages above it, during
    ///   the update, on 2.9.10 and the current release alike (only `max_msgs` and `max_bytes`
    ///   under `discard: new` are spared, from 2.10.6), and a deleted job message is a job that
    ///   never runs. A process asking for a lower `--max-queued` enforces it itself
    ///   (`QueueAdmission` in BatonStore); the stream keeps the higher bound.
    /// - Subjects are only added (a removed subject would strand its messages).
    /// - `discard: new` is not turned into `discard: old` (a full stream would delete its oldest).
    /// - Retention and storage cannot change in place (the server refuses).
    /// - Everything else is applied: replicas, max message size, duplicate window, direct get,
    ///   rollup, deny delete.
    public func reconciled(with current: StreamSpec) -> (spec: StreamSpec, refused: [RefusedStreamChange]) {
        var merged = self
        var refused: [RefusedStreamChange] = []
        func refuse(_ field: String, _ current: String, _ asked: String, _ reason: String) {
            refused.append(RefusedStreamChange(stream: name, field: field, current: current, asked: asked, reason: reason))
        }
        let lowering = "lowering a limit deletes the messages above it"

        if Self.isLower(maxMessagesPerSubject, than: current.maxMessagesPerSubject) {
            refuse("max_msgs_per_subject", Self.limit(current.maxMessagesPerSubject), Self.limit(maxMessagesPerSubject), lowering)
            merged.maxMessagesPerSubject = current.maxMessagesPerSubject
            merged.discardNewPerSubject = current.discardNewPerSubject
        }
        if Self.isLower(maxMessages, than: current.maxMessages) {
            refuse("max_msgs", Self.limit(current.maxMessages), Self.limit(maxMessages), lowering)
            merged.maxMessages = current.maxMessages
        }
        if Self.isLower(maxBytes, than: current.maxBytes) {
            refuse("max_bytes", Self.limit(current.maxBytes), Self.limit(maxBytes), lowering)
            merged.maxBytes = current.maxBytes
        }
        if Self.isLower(maxAge?.nanoseconds ?? 0, than: current.maxAge?.nanoseconds ?? 0) {
            refuse("max_age", "\(current.maxAge.map { "\($0)" } ?? "unlimited")", "\(maxAge.map { "\($0)" } ?? "unlimited")", lowering)
            merged.maxAge = current.maxAge
        }
        let dropped = current.subjects.filter { !subjects.contains($0) }
        if !dropped.isEmpty {
            refuse("subjects", current.subjects.joined(separator: ","), subjects.joined(separator: ","), "a removed subject would strand its messages")
            merged.subjects = subjects + dropped
        }
        if current.discardNew, !discardNew {
            refuse("discard", "new", "old", "discard old makes a full stream delete its oldest messages")
            merged.discardNew = true
        }
        if retention != current.retention {
            refuse("retention", "\(current.retention)", "\(retention)", "the server cannot change it in place")
            merged.retention = current.retention
        }
        if memoryStorage != current.memoryStorage {
            refuse("storage", current.memoryStorage ? "memory" : "file", memoryStorage ? "memory" : "file", "the server cannot change it in place")
            merged.memoryStorage = current.memoryStorage
        }
        if merged.maxMessagesPerSubject <= 0 { merged.discardNewPerSubject = false }
        return (merged, refused)
    }

    /// The same stream configuration as far as Baton sets it (limits `<= 0` all mean unlimited;
    /// the duplicate window is capped by the max age, as the server caps it).
    public func isEquivalent(to other: StreamSpec) -> Bool {
        func normalized(_ spec: StreamSpec) -> StreamSpec {
            var spec = spec
            for keyPath in [\StreamSpec.maxMessages, \.maxBytes, \.maxMessagesPerSubject] where spec[keyPath: keyPath] <= 0 {
                spec[keyPath: keyPath] = -1
            }
            if spec.maxMessageSize <= 0 { spec.maxMessageSize = -1 }
            if let age = spec.maxAge, age <= .zero { spec.maxAge = nil }
            if let age = spec.maxAge { spec.duplicateWindow = min(spec.duplicateWindow, age) }
            spec.subjects.sort()
            return spec
        }
        return normalized(self) == normalized(other)
    }

    /// True when `asked` is a tighter limit than `current` (`<= 0` is unlimited).
    static func isLower(_ asked: Int64, than current: Int64) -> Bool {
        guard asked > 0 else { return false }
        return current <= 0 || asked < current
    }

    static func limit(_ value: Int64) -> String { value > 0 ? "\(value)" : "unlimited" }

    /// The stream configuration the server reported.
    init(_ config: jsStreamConfig) {
        self.init(name: String(cString: config.Name), subjects: (0..<Int(config.SubjectsLen)).compactMap { config.Subjects[$0].map { String(cString: $0) } })
        retention = config.Retention == js_WorkQueuePolicy ? .workQueue : .limits
        maxAge = config.MaxAge > 0 ? .nanoseconds(config.MaxAge) : nil
        maxMessages = config.MaxMsgs
        maxBytes = config.MaxBytes
        maxMessagesPerSubject = config.MaxMsgsPerSubject
        maxMessageSize = config.MaxMsgSize
        discardNew = config.Discard == js_DiscardNew
        discardNewPerSubject = config.DiscardNewPerSubject
        memoryStorage = config.Storage == js_MemoryStorage
        replicas = Int(config.Replicas)
        duplicateWindow = .nanoseconds(config.Duplicates)
        allowRollup = config.AllowRollup
        denyDelete = config.DenyDelete
        allowDirect = config.AllowDirect
    }
}
