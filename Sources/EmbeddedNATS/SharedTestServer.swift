import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension NATSServerProcess {
    /// One nats-server for a whole test process: started on first use on a free port with a
    /// temporary store, stopped (and its store removed) when the process exits.
    public static func shared() async throws -> NATSServerProcess {
        try await SharedServer.task.value
    }
}

private enum SharedServer {
    static let task = Task<NATSServerProcess, Error> {
        let server = try await NATSServerProcess.start(serverName: "baton-test")
        SharedServer.box.server = server
        atexit { SharedServer.box.server?.stop(grace: .seconds(2)) }
        return server
    }

    final class Box: @unchecked Sendable {
        /// Written once before `atexit` is registered, read once at exit.
        var server: NATSServerProcess?
    }

    static let box = Box()
}
