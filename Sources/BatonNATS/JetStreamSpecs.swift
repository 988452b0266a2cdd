import CNats
#if canImport(Glibc)
import Glibc
#endif

/// What a stream should look like; `JetStream.ensureStream` makes it so.
public struct StreamSpec: Sendable, Hashable {
    public enum Retention: Sendable, Hashable { case limits, workQueue }

    public var name: String
    public var subjects: [String]
    public var retention: Retention = .limits
    public var maxAge: Duration? = nil
    public var maxMessages: Int64 = -1
    public var maxBytes: Int64 = -1
    public var maxMessagesPerSubject: Int64 = -1
    public var maxMessageSize: Int32 = -1
    /// Refuse new messages when a limit is hit (instead of deleting old ones).
    public var discardNew: Bool = false
    /// With `discardNew` and `maxMessagesPerSubject > 0`: a full subject refuses new messages
    /// (the publish fails with `NATSError.Kind.streamFull`) instead of dropping its oldest.
    public var discardNewPerSubject: Bool = false
    public var memoryStorage: Bool = false
    public var replicas: Int = 1
    public var duplicateWindow: Duration = .seconds(120)
    public var allowRollup: Bool = false
    public var denyDelete: Bool = false
    public var allowDirect: Bool = false

    public init(name: String, subjects: [String]) {
        self.name = name
        self.subjects = subjects
    }

    func withCConfig<T>(_ body: (UnsafeMutablePointer<jsStreamConfig>) throws -> T) throws -> T {
        let strings = CStrings()
        var config = jsStreamConfig()
        try check("jsStreamConfig_Init", jsStreamConfig_Init(&config))
        config.Name = strings.add(name)
        let subjectArray = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: subjects.count)
        defer { subjectArray.deallocate() }
        for (i, subject) in subjects.enumerated() { subjectArray[i] = strings.add(subject) }
        config.Subjects = subjectArray
        config.SubjectsLen = Int32(subjects.count)
        config.Retention = retention == .workQueue ? js_WorkQueuePolicy : js_LimitsPolicy
        config.MaxAge = maxAge?.nanoseconds ?? 0
        config.MaxMsgs = maxMessages
        config.MaxBytes = maxBytes
        config.MaxMsgsPerSubject = maxMessagesPerSubject
        config.MaxMsgSize = maxMessageSize
        config.Discard = discardNew ? js_DiscardNew : js_DiscardOld
        config.DiscardNewPerSubject = discardNewPerSubject
        config.Storage = memoryStorage ? js_MemoryStorage : js_FileStorage
        config.Replicas = Int64(replicas)
        // The duplicate window may not exceed the max age.
        let window = duplicateWindow.nanoseconds
        config.Duplicates = maxAge.map { min(window, $0.nanoseconds) } ?? window
        config.AllowRollup = allowRollup
        config.DenyDelete = denyDelete
        config.AllowDirect = allowDirect
        return try withExtendedLifetime(strings) { try body(&config) }
    }
}

/// A durable pull consumer with explicit acks; `JetStream.ensureConsumer` makes it so.
public struct ConsumerSpec: Sendable {
    public var stream: String
    public var durable: String
    public var filterSubject: String?
    /// Unacknowledged messages are redelivered after this long (reset by `inProgress()`).
    public var ackWait: Duration = .seconds(30)
    /// Deliveries before the server gives up on a message (-1: no limit).
    public var maxDeliver: Int = -1
    /// Messages handed out but not yet acknowledged, across all pulling workers.
    public var maxAckPending: Int = 10_000
    public var replicas: Int = 0

    public init(stream: String, durable: String, filterSubject: String? = nil) {
        self.stream = stream
        self.durable = durable
        self.filterSubject = filterSubject
    }

    func withCConfig<T>(_ body: (UnsafeMutablePointer<jsConsumerConfig>) throws -> T) throws -> T {
        let strings = CStrings()
        var config = jsConsumerConfig()
        try check("jsConsumerConfig_Init", jsConsumerConfig_Init(&config))
        config.Durable = strings.add(durable)
        config.Name = strings.add(durable)
        config.FilterSubject = filterSubject.map { strings.add($0) }
        config.AckPolicy = js_AckExplicit
        config.DeliverPolicy = js_DeliverAll
        config.AckWait = ackWait.nanoseconds
        config.MaxDeliver = Int64(maxDeliver)
        config.MaxAckPending = Int64(maxAckPending)
        config.Replicas = Int64(replicas)
        return try withExtendedLifetime(strings) { try body(&config) }
    }
}

/// C strings that live as long as this object (for config structs handed to nats.c).
final class CStrings {
    private var pointers: [UnsafeMutablePointer<CChar>] = []

    func add(_ string: String) -> UnsafePointer<CChar> {
        let p = strdup(string)!
        pointers.append(p)
        return UnsafePointer(p)
    }

    deinit { pointers.forEach { free($0) } }
}
