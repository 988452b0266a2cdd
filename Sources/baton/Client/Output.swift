import ArgumentParser
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

/// Indents JSON text without re-encoding it: key order, numbers and strings stay as they are.
enum PrettyJSON {
    static func format(_ data: Data, indent: String = "  ") -> String? {
        guard !data.isEmpty, (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil else { return nil }
        let bytes = [UInt8](data)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 2)
        var depth = 0
        var inString = false
        var escaped = false
        var index = 0

        func newline() {
            output.append(UInt8(ascii: "\n"))
            for _ in 0..<depth { output.append(contentsOf: indent.utf8) }
        }
        func nextSignificant(after position: Int) -> UInt8? {
            var i = position + 1
            while i < bytes.count {
                let b = bytes[i]
                if b != 0x20, b != 0x0A, b != 0x0D, b != 0x09 { return b }
                i += 1
            }
            return nil
        }

        while index < bytes.count {
            let byte = bytes[index]
            defer { index += 1 }
            if inString {
                output.append(byte)
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case 0x20, 0x0A, 0x0D, 0x09:
                continue
            case UInt8(ascii: "\""):
                inString = true
                output.append(byte)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                output.append(byte)
                let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if nextSignificant(after: index) == close {
                    // Empty container: `{}` / `[]` on one line.
                    while bytes[index] != close { index += 1 }
                    output.append(close)
                } else {
                    depth += 1
                    newline()
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                newline()
                output.append(byte)
            case UInt8(ascii: ","):
                output.append(byte)
                newline()
            case UInt8(ascii: ":"):
                output.append(contentsOf: ": ".utf8)
            default:
                output.append(byte)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// A job named by its id, its `Location` (`/v1/jobs/ID`) or its URL.
enum JobReference {
    static func id(_ text: String) throws -> String {
        var text = text.trimmingCharacters(in: .whitespaces)
        if let range = text.range(of: "/jobs/") {
            text = String(text[range.upperBound...])
            if let slash = text.firstIndex(of: "/") { text = String(text[..<slash]) }
        }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw ValidationError("'\(text)' is not a job id")
        }
        return text.lowercased()
    }

    static func path(_ id: String) -> String {
        "/v1/jobs/\(id)"
    }
}
