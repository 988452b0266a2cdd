import BatonCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Turns every error into an RFC 9457 problem document: Baton's own problems as they are,
/// Hummingbird's (unknown route, body too large) with their status, anything else as a 500
/// whose detail does not leak internals (it is logged instead).
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, to: request, logger: context.logger)
        }
    }

    /// Not async: its temporaries take no room in the frame that every request's task keeps
    /// for as long as the request runs (a held call: seconds).
    static func response(for error: any Error, to request: Request, logger: Logger) -> Response {
        switch error {
        case let problem as Problem:
            return .problem(problem)
        case is NIOTooManyBytesError:
            return .problem(Problem(type: "/problems/body-too-large", title: "Request body too large", status: 413))
        case let error as HTTPError:
            let title = error.status.reasonPhrase
            let detail = error.body ?? (error.status == .notFound ? "No route for \(request.method) \(request.uri.path)." : nil)
            return .problem(
                Problem(type: error.status == .notFound ? "/problems/not-found" : "/problems/http-\(error.status.code)",
                        title: title, status: error.status.code, detail: detail),
                headers: error.headers)
        case let error as HTTPResponseError:
            return .problem(Problem(type: "/problems/http-\(error.status.code)", title: error.status.reasonPhrase, status: error.status.code))
        default:
            logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return .problem(.internalError("The gateway could not complete the request; see its log."))
        }
    }
}
