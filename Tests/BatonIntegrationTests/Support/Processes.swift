import Foundation

/// Runs a program to its end without blocking a thread, killing it after `timeout`; returns its
/// exit status and output (stdout and stderr together, through a file: a pipe can fill up).
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:],
    directory: URL = FileManager.default.temporaryDirectory, timeout: Duration = .seconds(300)
) async throws -> (status: Int32, output: String) {
    let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("baton-process-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outputURL) }
    let output = try FileHandle(forWritingTo: outputURL)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.currentDirectoryURL = directory
    process.standardOutput = output
    process.standardError = output
    let watchdog = Task {
        try await Task.sleep(for: timeout)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    defer { watchdog.cancel() }
    try process.run()
    let status = await exitStatus(of: process)
    try? output.close()
    return (status, (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "")
}

/// The exit status of a started `process`, read by polling `waitpid` every 20 ms rather than from
/// Foundation's termination notification. On Linux that notification waits for the child's end
/// of a socket pair to close, and under load it was seen never to come: a suite hung for good
/// with every thread idle and the children long gone. If Foundation reaped the child first, its
/// status is read from `process`. A child killed by a signal gives the signal's number, as
/// Foundation's `terminationStatus` does.
func exitStatus(of process: Process) async -> Int32 {
    let pid = process.processIdentifier
    while true {
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid {
            return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
        }
        if reaped == -1, errno == ECHILD {
            for _ in 0..<250 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            return process.isRunning ? -1 : process.terminationStatus
        }
        try? await Task.sleep(for: .milliseconds(20))
    }
}

/// Waits for `process` to end without holding a thread: the tests run in parallel on the
/// cooperative pool, which has one thread per core, so a blocking `waitUntilExit()` on a process
/// that drains for seconds (a worker lets its long polls expire) stalls every other test.
func waitForExit(_ process: Process, timeout: Duration = .seconds(60)) async {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while process.isRunning, clock.now < deadline {
        try? await Task.sleep(for: .milliseconds(20))
    }
}

/// `python3` from PATH with `arguments`, as `runProcess` runs programs (by default in the
/// temporary directory, where the repository's `nats/` folder cannot pass for a package).
func runPython(
    _ arguments: [String], environment: [String: String] = [:],
    directory: URL = FileManager.default.temporaryDirectory, timeout: Duration = .seconds(300)
) async throws -> (status: Int32, output: String) {
    try await runProcess("/usr/bin/env", ["python3"] + arguments, environment: environment, directory: directory, timeout: timeout)
}

/// Installs a PyPI `package` with pip when `python3` cannot import `module` (Debian's own python3
/// needs `--break-system-packages`, PEP 668).
func ensurePythonPackage(_ package: String, module: String) async throws {
    guard try await runPython(["-c", "import \(module)"], timeout: .seconds(60)).status != 0 else { return }
    var install = try await runPython(["-m", "pip", "install", "-q", package])
    if install.status != 0 {
        install = try await runPython(["-m", "pip", "install", "-q", "--break-system-packages", package])
    }
    guard install.status == 0 else { throw TestError("pip install \(package) failed:\n\(install.output)") }
}
