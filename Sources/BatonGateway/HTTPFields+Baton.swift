import BatonCore
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let batonJobID = Self("Baton-Job-Id")!
    static let preferenceApplied = Self("Preference-Applied")!
    static let prefer = Self("Prefer")!
}

extension Response {
    /// A JSON response.
    static func json(_ status: HTTPResponse.Status, _ body: ByteBuffer, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// An RFC 9457 problem document.
    static func problem(_ problem: Problem, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = Problem.mediaType
        if let seconds = problem.retryAfter, headers[.retryAfter] == nil { headers[.retryAfter] = String(seconds) }
        return Response(status: .init(code: problem.status), headers: headers, body: .init(byteBuffer: problem.encoded()))
    }
}
