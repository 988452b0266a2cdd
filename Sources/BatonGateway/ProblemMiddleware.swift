import BatonCore
import BatonHTTPServer
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Turns every error into an RFC 9457 problem document. Baton's own problems render themselves
/// (`Problem+HTTPResponseError`) and pass on to the router; the rest are mapped here:
/// Hummingbird's (unknown route, body too large) with their status, anything else as a 500
/// whose detail does not leak internals (it is logged instead).
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try Self.response(for: error, to: request, logger: context.logger)
        }
    }

    /// The problem response for an error that is not a `Problem`; a `Problem` is thrown on, for
    /// the router to render.
    ///
    /// Not async: its temporaries take no room in the frame that every request's task keeps
    /// for as long as the request runs (a held call: seconds).
    static func response(for error: any Error, to request: Request, logger: Logger) throws -> Response {
        switch error {
        case is Problem:
            throw error
        case is NIOTooManyBytesError:
            return .problem(.bodyTooLarge())
        case let error as HTTPParserError:  // in the body (before it: `MalformedRequestProblems`); the connection ends
            return .problem(.parsing(error), headers: [.connection: "close"])
        case let error as HTTPError:
            let problem: Problem =
                error.status == .notFound
                ? .notFound(error.body ?? "No route for \(request.method) \(request.uri.path).")
                : .http(error.status.code, title: error.status.reasonPhrase, detail: error.body)
            return .problem(problem, headers: error.headers)
        case let error as HTTPResponseError:
            return .problem(.http(error.status.code, title: error.status.reasonPhrase))
        default:
            logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return .problem(.internalError("The gateway could not complete the request; see its log."))
        }
    }
}
