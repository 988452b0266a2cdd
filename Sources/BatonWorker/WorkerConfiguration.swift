import BatonStore
import Foundation

/// How a worker process runs its services.
public struct WorkerConfiguration: Sendable {
    /// Handlers in flight at once, per service, in this process.
    public var concurrency: Int = 8
    /// A durable job not acknowledged (and not heartbeated) for this long is redelivered.
    public var ackWait: Duration = .seconds(30)
    /// Deliveries of a durable job before JetStream gives up on it.
    public var maxDeliver: Int = 5
    /// Streams and buckets this worker creates if missing.
    public var layout = Layout()
    /// This process's name in records and logs.
    public var workerID: String

    public init(workerID: String = WorkerConfiguration.defaultWorkerID()) {
        self.workerID = workerID
    }

    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// How often a running durable job tells JetStream it is still alive.
    var heartbeatInterval: Duration { max(.milliseconds(100), ackWait / 3) }
}
