import EmbeddedNATS
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension NATSServerProcess {
    /// A nats-server shared by a test process (or by one suite, under its own `name`): started
    /// on first use on a free port with a temporary store, stopped and its store removed when
    /// the process exits.
    public static func shared(_ name: String = "default") async throws -> NATSServerProcess {
        let task = SharedServers.tasks.withLock { tasks in
            if let task = tasks[name] { return task }
            let task = Task<NATSServerProcess, Error> {
                let server = try await NATSServerProcess.start(serverName: "baton-test-\(name)")
                SharedServers.started.withLock { $0.append(server) }
                return server
            }
            tasks[name] = task
            return task
        }
        return try await task.value
    }
}

private enum SharedServers {
    static let tasks = Mutex<[String: Task<NATSServerProcess, Error>]>([:])
    static let started: Mutex<[NATSServerProcess]> = {
        atexit {
            for server in SharedServers.started.withLock({ $0 }) { server.stop(grace: .seconds(2)) }
        }
        return Mutex([])
    }()
}
