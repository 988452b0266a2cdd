/// A message's header block as it crosses the wire: `NATS/1.0[ status[ description]]\r\n`,
/// `Name: value\r\n` per field, `\r\n`.
///
/// Baton reads the blocks of the messages it receives here, in one pass, instead of asking
/// nats.c for them field by field (`natsMsgHeader_Keys` and `Values` first build nats.c's header
/// map: a hash, a value object per field, arrays of keys and values; ~12 allocations for a
/// fast-lane reply). The rules are nats.c's own (`_liftHeaders` and `_processKeyValue` in its
/// src/msg.c, 3.x), so a block reads the same either way (`HeaderBlockTests`): values trimmed of
/// white space, a line that starts with white space continues the previous value, and the
/// status line's code and description become `Status` and `Description` fields.
enum HeaderBlock {
    /// The fields of `block`, or nil where nats.c would report a protocol error.
    static func parse(_ block: UnsafeRawBufferPointer) -> NATSHeaders? {
        let bytes = block.bindMemory(to: UInt8.self)
        let end = bytes.count
        let prefix: StaticString = "NATS/1.0"
        guard end >= prefix.utf8CodeUnitCount + 2,
            prefix.withUTF8Buffer({ prefix in bytes.prefix(prefix.count).elementsEqual(prefix) })
        else { return nil }

        // The status line: what follows `NATS/1.0` and its spaces, up to CR LF.
        var position = prefix.utf8CodeUnitCount
        while position < end, bytes[position] == UInt8(ascii: " ") { position += 1 }
        let statusStart = position
        guard let statusLF = lineFeed(in: bytes, from: position) else { return nil }
        let statusEnd = statusLF - 1  // at the CR
        position = statusLF + 1

        // One field a line at most (and a status's two): sized once, not grown as a job's
        // dozen fields come in.
        var lines = 0
        for byte in bytes where byte == 10 { lines += 1 }
        var headers = NATSHeaders(minimumCapacity: lines)
        var lastName: String?  // nil on the first line only
        while position < end {
            if bytes[position] == 13 {  // an empty line: the end of the block
                guard position + 1 == end || (bytes[position + 1] == 10 && position + 2 == end) else { return nil }
                break
            }
            let name: String
            let folded = isSpace(bytes[position])
            if folded {
                guard let last = lastName else { return nil }
                name = last
            } else {
                guard let colon = (position..<end).first(where: { bytes[$0] == UInt8(ascii: ":") }) else { return nil }
                name = text(bytes, position, colon)
                position = colon + 1
            }
            while position < end, isSpace(bytes[position]) { position += 1 }
            guard position < end else { return nil }
            let valueStart = position
            guard let lf = lineFeed(in: bytes, from: position) else { return nil }
            var valueEnd = lf - 1  // at the CR
            while valueEnd > valueStart, isSpace(bytes[valueEnd - 1]) { valueEnd -= 1 }
            let value = text(bytes, valueStart, valueEnd)
            if folded {
                guard let index = headers.fields.lastIndex(where: { $0.name == name }) else { return nil }
                headers.fields[index].value += " " + value
            } else {
                headers.fields.append((name: name, value: value))
            }
            lastName = name
            position = lf + 1
        }

        // An inline status: `Status` (its first three characters) and `Description` (the
        // rest, trimmed), each replacing any field of that name.
        // (nats.c's `natsMsgHeader_Set`: names compared as they are.)
        func set(_ name: String, _ value: String) {
            headers.fields.removeAll { $0.name == name }
            headers.fields.append((name: name, value: value))
        }
        if statusEnd > statusStart {
            let codeEnd = min(statusStart + 3, statusEnd)
            set("Status", text(bytes, statusStart, codeEnd))
            var descriptionStart = codeEnd
            var descriptionEnd = statusEnd
            while descriptionStart < descriptionEnd, isSpace(bytes[descriptionStart]) { descriptionStart += 1 }
            while descriptionEnd > descriptionStart, isSpace(bytes[descriptionEnd - 1]) { descriptionEnd -= 1 }
            if descriptionEnd > descriptionStart { set("Description", text(bytes, descriptionStart, descriptionEnd)) }
        }
        return headers
    }

    /// The index of the LF of the first CR LF at or after `start`.
    private static func lineFeed(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == 13, bytes[index + 1] == 10 { return index + 1 }
            index += 1
        }
        return nil
    }

    /// C's `isspace` in the C locale.
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 32 || (byte >= 9 && byte <= 13)
    }

    private static func text(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<max(start, end)]), as: UTF8.self)
    }
}
