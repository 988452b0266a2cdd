import Foundation

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
