import BatonCore
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /ui` and `GET /ui/{asset}`: the web console, a hash-routed single page in plain HTML, CSS
/// and JavaScript over the `/v1/` API (services, jobs, a job's live progress, dead letters, a
/// form to submit jobs).
///
/// Its files are `Console/`, compiled into the binary as `ConsoleAssets.files` by the
/// EmbedConsole build plugin: an installed `baton` serves them with no files beside it, no CDN,
/// and offline. Each is encoded once and every response shares its buffer. The console itself
/// needs no API key (it holds no data); it asks for one when the API answers 401.
struct UIController: Sendable {
    struct Asset: Sendable {
        let contentType: String
        let body: ByteBuffer
    }

    static let assets: [String: Asset] = ConsoleAssets.files.reduce(into: [:]) { assets, file in
        guard let type = contentType(of: file.key) else { return }
        assets[file.key] = Asset(contentType: type, body: ByteBuffer(string: file.value))
    }

    static func contentType(of name: String) -> String? {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        case "json": "application/json"
        default: nil
        }
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        let assets = Self.assets
        router.get("/ui") { _, _ in
            try Self.response(assets["index.html"])
        }
        router.get("/ui/{asset}") { _, context in
            let name = try context.parameters.require("asset")
            return try Self.response(assets[name], name: name)
        }
    }

    private static func response(_ asset: Asset?, name: String = "index.html") throws -> Response {
        guard let asset else {
            throw Problem.notFound("The console has no file \(name).")
        }
        return Response(
            status: .ok,
            headers: [.contentType: asset.contentType, .cacheControl: "no-cache", .xContentTypeOptions: "nosniff"],
            body: .init(byteBuffer: asset.body))
    }
}
