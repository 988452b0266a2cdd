import BatonCore
import HTTPTypes
import Hummingbird

/// A `Problem` renders itself: Hummingbird's router catches every `HTTPResponseError` and asks
/// it for its response, so routes and middleware throw the problem from the catalogue and
/// `ProblemMiddleware` lets it pass. BatonCore knows nothing of Hummingbird, hence the
/// conformance here.
extension Problem: HTTPResponseError {
    /// The document's `status` as Hummingbird's type (its metrics and tracing read it).
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: statusCode) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        .problem(self)
    }
}

extension Response {
    /// An RFC 9457 problem document, with a `Retry-After` when the problem has one and
    /// `headers` do not set it (`headers`: for responses that carry more, such as
    /// `WWW-Authenticate` or the headers of Hummingbird's `HTTPError`).
    static func problem(_ problem: Problem, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = Problem.mediaType
        if let seconds = problem.retryAfter, headers[.retryAfter] == nil { headers[.retryAfter] = String(seconds) }
        return Response(status: problem.status, headers: headers, body: .init(byteBuffer: problem.encoded()))
    }
}
