import Foundation

/// What the client commands write: answers on stdout (bytes untouched), everything about the
/// exchange (status line, job id, problems) on stderr.
enum Output {
    static func out(_ data: Data) {
        FileHandle.standardOutput.write(data)
    }

    static func out(_ text: String) {
        out(Data(text.utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// `200 OK  job 6thss6r6kh8x41xa15aka025ht` on stderr.
    static func statusLine(_ response: GatewayResponse) {
        err(response.statusLine + (response.jobID.map { "  job \($0)" } ?? "") + "\n")
    }

    /// A JSON body indented (key order kept), else the bytes as they are; ends with a newline.
    static func json(_ body: Data) {
        if let pretty = PrettyJSON.format(body) {
            out(pretty + "\n")
        } else {
            out(body)
            if body.last != UInt8(ascii: "\n") { out("\n") }
        }
    }

    /// An RFC 9457 problem document, readably: `title: detail` and its type, on stderr.
    static func problem(_ response: GatewayResponse) {
        guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
            if !response.body.isEmpty { err(String(decoding: response.body, as: UTF8.self) + "\n") }
            return
        }
        let title = object["title"] as? String ?? HTTPReason.phrase(response.status)
        var text = "error: \(title)"
        if let detail = object["detail"] as? String, !detail.isEmpty { text += ": \(detail)" }
        text += "\n"
        if let type = object["type"] as? String { text += "  type: \(type)\n" }
        if let job = object["job_id"] as? String, job != response.jobID { text += "  job:  \(job)\n" }
        if let retry = response.header("retry-after") { text += "  retry after \(retry) s\n" }
        err(text)
    }

    /// A non-2xx answer: the problem readably on stderr, or (the worker's own error answer)
    /// the body on stdout.
    static func failure(_ response: GatewayResponse) {
        if response.isProblem {
            problem(response)
        } else if !response.body.isEmpty {
            out(response.body)
        }
    }
}
