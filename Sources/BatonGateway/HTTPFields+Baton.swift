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
}
