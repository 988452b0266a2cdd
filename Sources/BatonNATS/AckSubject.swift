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
        let utf8 = subject.utf8
        guard subject.hasPrefix("$JS.ACK.") else { return nil }
        var dots = 0
        for byte in utf8 where byte == UInt8(ascii: ".") { dots += 1 }
        // The token index of the consumer; delivered, sseq and pending follow at +1, +2 and +5.
        let first: Int
        switch dots + 1 {
        case 9: first = 3
        case 12...: first = 5
        default: return nil
        }
        var token = 0
        var start = utf8.startIndex
        var consumer: Substring?
        var delivered: UInt64?
        var streamSequence: UInt64?
        var pending: UInt64?
        var index = utf8.startIndex
        while token <= first + 5 {
            let end = utf8[index...].firstIndex(of: UInt8(ascii: ".")) ?? utf8.endIndex
            switch token - first {
            case 0: consumer = subject[start..<end]
            case 1: delivered = Self.number(utf8[start..<end])
            case 2: streamSequence = Self.number(utf8[start..<end])
            case 5: pending = Self.number(utf8[start..<end])
            default: break
            }
            guard end != utf8.endIndex else { break }
            token += 1
            index = utf8.index(after: end)
            start = index
        }
        guard let consumer, !consumer.isEmpty, let delivered, delivered <= UInt64(Int.max), let streamSequence, let pending else {
            return nil
        }
        self.consumer = consumer
        self.delivered = Int(delivered)
        self.streamSequence = streamSequence
        self.pending = pending
    }

    /// A decimal number of at most 19 digits (no sign, no overflow), else nil.
    private static func number(_ digits: Substring.UTF8View) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 19 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
