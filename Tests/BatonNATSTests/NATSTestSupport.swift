import BatonNATS
import BatonTestSupport
import EmbeddedNATS
import Logging
import NIOCore

/// A connection to the test process's shared nats-server.
func connectToTestServer(name: String = "baton-nats-tests") async throws -> NATSConnection {
    let server = try await NATSServerProcess.shared()
    var logger = Logger(label: "nats-test")
    logger.logLevel = .warning
    return try await NATSConnection.connect(NATSConfiguration(servers: [server.url], name: name), logger: logger)
}

/// A work-queue stream on `<its name>.>` that no other test uses; returns its name.
func makeWorkQueue(_ js: JetStream, prefix: String) async throws -> String {
    let name = "\(prefix)\(UInt32.random(in: 0...UInt32.max))"
    var stream = StreamSpec(name: name, subjects: ["\(name).>"])
    stream.retention = .workQueue
    try await js.ensureStream(stream)
    return name
}

/// A subject no other test uses.
func uniqueSubject(_ base: String = "test") -> String {
    "\(base).\(UInt64.random(in: 0...UInt64.max))"
}

extension ByteBuffer {
    init(_ string: String) { self.init(string: string) }
}

/// Reads up to `count` messages or until `timeout` passes.
func collect(_ subscription: NATSSubscription, count: Int, timeout: Duration = .seconds(5)) async -> [NATSMessage] {
    await withTaskGroup(of: [NATSMessage].self) { group in
        group.addTask {
            var messages: [NATSMessage] = []
            for await message in subscription {
                messages.append(message)
                if messages.count == count { break }
            }
            return messages
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            subscription.unsubscribe()
            return []
        }
        let first = await group.next() ?? []
        group.cancelAll()
        let second = await group.next() ?? []
        return first.count >= second.count ? first : second
    }
}
