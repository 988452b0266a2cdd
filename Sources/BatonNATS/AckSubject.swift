/// The delivery metadata a JetStream message carries in its ack subject,
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (9 tokens), or the v2
/// form with domain and account hash in front and a random token at the end (12 or more).
///
/// Read in one pass over the subject's bytes, with no token array: a worker reads it for every
/// job it is delivered, and two `split`s of it were ~4% of a worker's CPU under the durable lane.
struct AckSubject: Equatable {
    /// The consumer's name: a slice of the subject.
    let consumer: Substring
    let delivered: Int
    let streamSequence: UInt64
    let pending: UInt64

    init?(_ subject: String) {
        guard subject.hasPrefix("$JS.ACK.") else { return nil }
        // Token boundaries found over the subject's UTF-8 buffer (its bytes, not its indices).
        var subject = subject
        guard let fields = subject.withUTF8({ Self.fields(of: $0) }) else { return nil }
        let utf8 = subject.utf8
        let from = utf8.index(utf8.startIndex, offsetBy: fields.consumer.lowerBound)
        let to = utf8.index(from, offsetBy: fields.consumer.count)
        self.consumer = subject[from..<to]
        self.delivered = fields.delivered
        self.streamSequence = fields.streamSequence
        self.pending = fields.pending
    }

    /// The consumer token's byte range and the three numbers, or nil for a subject of neither form.
    private static func fields(of bytes: UnsafeBufferPointer<UInt8>)
        -> (consumer: Range<Int>, delivered: Int, streamSequence: UInt64, pending: UInt64)?
    {
        var dots = 0
        for byte in bytes where byte == UInt8(ascii: ".") { dots += 1 }
        // The token index of the consumer; delivered, sseq and pending follow at +1, +2 and +5.
        let first: Int
        switch dots + 1 {
        case 9: first = 3
        case 12...: first = 5
        default: return nil
        }
        var token = 0
        var start = 0
        var consumer: Range<Int>?
        var delivered: UInt64?
        var streamSequence: UInt64?
        var pending: UInt64?
        while token <= first + 5 {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ".") { end += 1 }
            switch token - first {
            case 0: consumer = start..<end
            case 1: delivered = number(UnsafeBufferPointer(rebasing: bytes[start..<end]))
            case 2: streamSequence = number(UnsafeBufferPointer(rebasing: bytes[start..<end]))
            case 5: pending = number(UnsafeBufferPointer(rebasing: bytes[start..<end]))
            default: break
            }
            guard end < bytes.count else { break }
            token += 1
            start = end + 1
        }
        guard let consumer, !consumer.isEmpty, let delivered, delivered <= UInt64(Int.max), let streamSequence, let pending else {
            return nil
        }
        return (consumer, Int(delivered), streamSequence, pending)
    }

    /// A decimal number of at most 19 digits (no sign, no overflow), else nil.
    private static func number(_ digits: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 19 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
