// Waiting for the event a test is about, not for a fixed time: a fixed sleep is either longer
// than needed (the suite pays it every run) or, on a loaded machine, too short (the test flakes).
// These poll a condition with a deadline, for state that has no notification of its own (a
// consumer's counts, a status document, a log file, a counter).

/// The condition of `waitUntil` did not hold within its timeout.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public let timeout: Duration
    public var description: String { "condition not met within \(timeout)" }
}

/// Returns as soon as `condition` holds, checking every `interval`; throws `WaitTimedOut` after
/// `timeout`.
public func waitUntil(
    timeout: Duration, every interval: Duration = .milliseconds(50), _ condition: @Sendable () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    throw WaitTimedOut(timeout: timeout)
}

/// Whether `condition` holds at every check for `window` (checked every `interval`): false at the
/// first check where it does not, so a broken promise fails at once instead of at the window's
/// end. For what must *not* happen within a time that is itself the point (an ack wait passing).
public func holdsThroughout(
    _ window: Duration, every interval: Duration = .milliseconds(100), _ condition: @Sendable () async throws -> Bool
) async throws -> Bool {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: window)
    while true {
        guard try await condition() else { return false }
        guard clock.now < end else { return true }
        try await Task.sleep(for: min(interval, end - clock.now))
    }
}
