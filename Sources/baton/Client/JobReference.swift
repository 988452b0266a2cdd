import ArgumentParser
import Foundation

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
