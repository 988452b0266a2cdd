import BatonNATS
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A `nats-server` child process with JetStream and a store of its own, for `baton dev` and the
/// tests. It records its pid and stops exactly that process; a temporary store is removed after.
public final class NATSServerProcess: Sendable {
    public enum StartError: Error, CustomStringConvertible {
        case notInstalled
        case notExecutable(String)
        case exited(status: Int32, log: String)
        case notReady(log: String)

        public var description: String {
            switch self {
            case .notInstalled:
                "nats-server is not installed: run scripts/install-deps.sh (it installs the current release into .tools/nats and Debian's nats-server), or `make run`, which runs it"
            case .notExecutable(let path):
                "\(path) is not an executable nats-server (from --nats-server or BATON_NATS_SERVER)"
            case .exited(let status, let log):
                "nats-server exited with status \(status):\n\(log)"
            case .notReady(let log):
                "nats-server did not become ready:\n\(log)"
            }
        }
    }

    /// The client port it listens on (loopback).
    public let port: Int
    public let pid: Int32
    public let storeDirectory: String
    /// The binary it runs.
    public let executable: String
    /// The release it runs, as its log says (nil if the log did not say).
    public let version: NATSServerVersion?
    private let workDirectory: String
    private let removeStoreOnStop: Bool

    public var url: String { "nats://127.0.0.1:\(port)" }

    private init(
        port: Int, pid: Int32, storeDirectory: String, executable: String, version: NATSServerVersion?,
        workDirectory: String, removeStoreOnStop: Bool
    ) {
        self.port = port
        self.pid = pid
        self.storeDirectory = storeDirectory
        self.executable = executable
        self.version = version
        self.workDirectory = workDirectory
        self.removeStoreOnStop = removeStoreOnStop
    }

    /// Starts nats-server on `port` (nil: a free port), on loopback, with JetStream.
    ///
    /// - Parameters:
    ///   - storeDirectory: JetStream store; nil makes a temporary one that `stop()` removes.
    ///   - maxPayload: the largest message the server accepts.
    ///   - executable: the nats-server binary (nil: `Self.executable()`, which follows
    ///     `BATON_NATS_SERVER`).
    ///   - syncInterval: `jetstream { sync_interval }` (`always`, or a duration such as `10s`;
    ///     nats-server 2.10+); nil leaves the server's default (fsync every 2 minutes).
    ///   - extraConfiguration: more of the server's configuration file, e.g. a `tls` or an
    ///     `authorization` block (the security tests' servers).
    public static func start(
        port: Int? = nil, storeDirectory: String? = nil, maxPayload: Int = 8 << 20,
        serverName: String = "baton-dev", executable: String? = nil, syncInterval: String? = nil,
        extraConfiguration: String = "", logger: Logger = Logger(label: "nats-server")
    ) async throws -> NATSServerProcess {
        let executable = try executable.map(checkedExecutable) ?? Self.executable()
        let work = FileManager.default.temporaryDirectory
            .appendingPathComponent("baton-nats-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let store = storeDirectory ?? (work + "/jetstream")
        let logFile = work + "/nats-server.log"
        let config = """
            # Written by Baton for an embedded development server.
            server_name: \(serverName)
            listen: 127.0.0.1:\(port ?? -1)
            max_payload: \(maxPayload)
            jetstream {
              store_dir: "\(store)"
            \(syncInterval.map { "  sync_interval: \($0)" } ?? "")
            }
            \(extraConfiguration)
            """
        try config.write(toFile: work + "/nats.conf", atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", work + "/nats.conf", "-l", logFile, "-P", work + "/nats-server.pid"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier

        // Wait for the log to say where it listens and that it is ready.
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(15))
        while clock.now < deadline {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if !process.isRunning {
                throw StartError.exited(status: process.terminationStatus, log: log)
            }
            if log.contains("Server is ready"), let listening = listeningPort(in: log) {
                let version = Self.version(in: log)
                logger.info(
                    "nats-server started",
                    metadata: ["version": "\(version?.description ?? "?")", "port": "\(listening)", "pid": "\(pid)", "store": "\(store)"])
                return NATSServerProcess(
                    port: listening, pid: pid, storeDirectory: store, executable: executable, version: version,
                    workDirectory: work, removeStoreOnStop: storeDirectory == nil
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGKILL)
        throw StartError.notReady(log: (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "")
    }

    /// Stops the server (SIGTERM, then SIGKILL after `grace`) and removes its temporary files.
    public func stop(grace: Duration = .seconds(5)) {
        signal(SIGTERM)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while isRunning, clock.now < deadline { usleep(10_000) }
        if isRunning { signal(SIGKILL) }
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
        if removeStoreOnStop {
            try? FileManager.default.removeItem(atPath: workDirectory)
        }
    }

    /// Sends `sig` to the server process (fault tests: SIGKILL, SIGSTOP, SIGCONT).
    public func signal(_ sig: Int32) { _ = kill(pid, sig) }

    public var isRunning: Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return false }
        return kill(pid, 0) == 0
    }

    /// The server's log so far.
    public var log: String { (try? String(contentsOfFile: workDirectory + "/nats-server.log", encoding: .utf8)) ?? "" }

    static func listeningPort(in log: String) -> Int? {
        guard let range = log.range(of: "Listening for client connections on ") else { return nil }
        let rest = log[range.upperBound...].prefix { $0 != "\n" }
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        return Int(rest[rest.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }

    /// The release a server's log names (`[INF]   Version:  2.15.1`).
    static func version(in log: String) -> NATSServerVersion? {
        guard let range = log.range(of: "Version:") else { return nil }
        return NATSServerVersion(log[range.upperBound...].prefix { $0 != "\n" }.trimmingCharacters(in: .whitespaces))
    }

    /// The nats-server binary Baton starts, from one setting (the same order as
    /// `scripts/nats-server.sh`): `BATON_NATS_SERVER`; else `.tools/nats/bin/nats-server` under
    /// the current directory (the current release `scripts/install-deps.sh` installs in a
    /// checkout); else `nats-server` on PATH (Debian's, in /usr/sbin).
    public static func executable(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let chosen = environment["BATON_NATS_SERVER"], !chosen.isEmpty { return try checkedExecutable(chosen) }
        let local = FileManager.default.currentDirectoryPath + "/.tools/nats/bin/nats-server"
        if FileManager.default.isExecutableFile(atPath: local) { return local }
        guard let found = findExecutable("nats-server") else { throw StartError.notInstalled }
        return found
    }

    private static func checkedExecutable(_ path: String) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: path) else { throw StartError.notExecutable(path) }
        return path
    }

    /// Finds `name` on PATH, or in /usr/sbin and /usr/bin (Debian puts nats-server in /usr/sbin).
    public static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/usr/local/bin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
