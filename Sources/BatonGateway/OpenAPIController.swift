import Hummingbird
import NIOCore

/// `GET /openapi.json`: the OpenAPI 3.1 document of the HTTP API.
///
/// The document is `OpenAPI/openapi.json`, compiled into the binary as `OpenAPIDocument.json` by
/// the EmbedOpenAPI build plugin, so an installed `baton` serves it without the source tree; it
/// is encoded once and every response shares the buffer.
struct OpenAPIController: Sendable {
    static let document = ByteBuffer(string: OpenAPIDocument.json)

    func addRoutes(to router: Router<BasicRequestContext>) {
        let document = Self.document
        router.get("/openapi.json") { _, _ in
            Response.json(.ok, document)
        }
    }
}
