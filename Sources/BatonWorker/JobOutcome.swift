import BatonCore

/// What running a handler came to: its answer, or a failure turned into a problem document.
struct JobOutcome: Sendable {
    var answer: JobAnswer
    var state: JobState
    var error: String?
    /// The handler asked for another attempt (`JobError.retryable`).
    var retryable = false

    /// Runs `body`. A `JobError` keeps its status and message; any other error becomes a 500.
    /// Returns nil when the task was cancelled and the handler gave up (the job is handed back).
    static func of(jobID: String, _ body: @Sendable () async throws -> JobAnswer) async -> JobOutcome? {
        do {
            return JobOutcome(answer: try await body(), state: .succeeded)
        } catch is CancellationError where Task.isCancelled {
            return nil
        } catch let error as JobError {
            var outcome = failure(status: error.status, message: error.message, jobID: jobID)
            outcome.retryable = error.retryable
            return outcome
        } catch {
            return failure(status: 500, message: "The handler failed: \(error)", jobID: jobID)
        }
    }

    static func failure(status: Int, message: String, jobID: String) -> JobOutcome {
        let problem = Problem.jobFailed(status: status, message: message, jobID: jobID)
        return JobOutcome(
            answer: JobAnswer(status: status, contentType: Problem.mediaType, body: problem.encoded()),
            state: .failed, error: message
        )
    }
}
