import Synchronization

/// Runs short actions at coarse future times from one task, instead of a timer per action.
///
/// A `Task.sleep` is a timer that fires at its deadline even when the sleeping task was
/// cancelled long before (the task resumes early; the timer stays armed), and each firing
/// wakes a thread. A worker that gave each job a heartbeat timer and a deferred running mark
/// left two timers behind per job, firing 0.2 s and 10 s later: at 2,000 jobs a second, 4,000
/// wake-ups a second of nothing, ~10 of a job's ~35 context switches. The wheel instead keeps
/// the actions in buckets by tick (`resolution`) and one task sweeps the buckets that came due,
/// while any action is pending; a cancelled action is dropped from its bucket when it comes.
///
/// Actions run on the sweeping task, one after another: they must be short and must not block
/// (publish a message, start a task). Times are late by up to `resolution`.
public final class TimerWheel: Sendable {
    /// A scheduled action; `cancel()` before it runs and it never does.
    public final class Timer: Sendable {
        fileprivate let action: Mutex<(@Sendable () -> Void)?>
        fileprivate init(_ action: @escaping @Sendable () -> Void) { self.action = Mutex(action) }

        /// Stops the action; true when it had not run (and now never will).
        @discardableResult
        public func cancel() -> Bool { action.withLock { $0.take() } != nil }

        /// Takes the action to run it: nil when it was cancelled (or ran).
        fileprivate func take() -> (@Sendable () -> Void)? { action.withLock { $0.take() } }
    }

    /// The wheel of a process's in-flight jobs (heartbeats, deferred running marks).
    public static let shared = TimerWheel()

    public let resolution: Duration
    private let state: Mutex<State>

    private struct State {
        var due: TickBuckets<Timer>
        var sweeping = false
    }

    public init(resolution: Duration = .milliseconds(50)) {
        self.resolution = resolution
        state = Mutex(State(due: TickBuckets(resolution: resolution)))
    }

    /// Runs `action` once `delay` has passed (up to `resolution` later), unless cancelled.
    @discardableResult
    public func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> Timer {
        schedule(at: ContinuousClock.now.advanced(by: delay), action)
    }

    /// Runs `action` once `due` has come (up to `resolution` later), unless cancelled.
    @discardableResult
    public func schedule(at due: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> Timer {
        let timer = Timer(action)
        let start = state.withLock { state -> Bool in
            state.due.add(timer, due: due)
            defer { state.sweeping = true }
            return !state.sweeping
        }
        if start { startSweeping() }
        return timer
    }

    /// Timers not yet swept (cancelled ones included until their tick comes).
    var pendingCount: Int { state.withLock { $0.due.count } }

    private func startSweeping() {
        Task.detached { [self] in
            while true {
                try? await Task.sleep(for: resolution)
                if !sweep() { return }
            }
        }
    }

    /// Runs the actions of the ticks that are over; false (and the sweeper stops) when no timer
    /// is left.
    private func sweep() -> Bool {
        let now = ContinuousClock.now
        let (came, more) = state.withLock { state -> ([Timer], Bool) in
            let came = state.due.takeDue(now: now)
            if state.due.isEmpty { state.sweeping = false }
            return (came, !state.due.isEmpty)
        }
        for timer in came { timer.take()?() }
        return more
    }
}
