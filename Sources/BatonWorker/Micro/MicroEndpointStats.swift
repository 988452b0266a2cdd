import BatonCore
import Synchronization

/// What one service's endpoint handled in this process, as `$SRV.STATS` reports it: handler
/// runs, the failed ones with the last error, and the time spent in the handler.
///
/// Runners call `measure` around the handler; the micro responder reads `snapshot`.
final class MicroEndpointStats: Sendable {
    /// A consistent copy of the counters.
    struct Snapshot: Sendable, Equatable {
        var requests: Int64 = 0
        var errors: Int64 = 0
        /// `"<status>:<message>"` of the last failure (the NATS micro convention), "" when none.
        var lastError = ""
        var processingNanoseconds: Int64 = 0

        var averageNanoseconds: Int64 { requests > 0 ? processingNanoseconds / requests : 0 }
    }

    private let state = Mutex(Snapshot())

    init() {}

    var snapshot: Snapshot { state.withLock { $0 } }

    /// Counts one handled job that took `duration`; `error` set when it failed.
    func record(duration: Duration, error: String?) {
        let nanoseconds = Self.nanoseconds(duration)
        state.withLock { state in
            state.requests &+= 1
            state.processingNanoseconds &+= nanoseconds
            if let error {
                state.errors &+= 1
                state.lastError = error
            }
        }
    }

    /// Runs a job handler and records how long it took and whether it failed. A `JobError` is
    /// recorded as `"<status>:<message>"`, any other error as `"500:<error>"`; a cancelled
    /// handler (the client cancelled, or the worker stops) counts as handled, not failed.
    /// Errors are rethrown unchanged.
    func measure(_ handler: () async throws -> JobAnswer) async throws -> JobAnswer {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let answer = try await handler()
            record(duration: start.duration(to: clock.now), error: nil)
            return answer
        } catch is CancellationError {
            record(duration: start.duration(to: clock.now), error: nil)
            throw CancellationError()
        } catch let error as JobError {
            record(duration: start.duration(to: clock.now), error: "\(error.status):\(error.message)")
            throw error
        } catch {
            record(duration: start.duration(to: clock.now), error: "500:\(error)")
            throw error
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }
}
