#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#endif

/// Bytes from the system's cryptographic random source, any number in one call.
///
/// `SystemRandomNumberGenerator` makes a `getrandom` system call per 8 bytes; a submitted job
/// drew eight of them (its id and its trace context): two of every eight system calls of a
/// gateway on the fast lane. Job ids must stay unguessable: this is still the kernel's source,
/// only asked once per value.
public enum RandomBytes {
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        #if canImport(Darwin)
        arc4random_buf(base, buffer.count)
        #else
        // getentropy: one getrandom call for up to 256 bytes.
        var filled = 0
        while filled < buffer.count {
            let count = min(256, buffer.count - filled)
            guard getentropy(base + filled, count) == 0 else {
                // Not expected on Linux ≥ 3.17; the standard library's generator never fails.
                var generator = SystemRandomNumberGenerator()
                for i in filled..<buffer.count { buffer[i] = generator.next() }
                return
            }
            filled += count
        }
        #endif
    }

    /// `count` random bytes as lowercase hex (`2 × count` characters).
    public static func hex(_ count: Int) -> String {
        let digits: StaticString = "0123456789abcdef"
        return withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { random in
            fill(random)
            return String(unsafeUninitializedCapacity: count * 2) { text in
                digits.withUTF8Buffer { digits in
                    for (i, byte) in random.enumerated() {
                        text[2 * i] = digits[Int(byte >> 4)]
                        text[2 * i + 1] = digits[Int(byte & 15)]
                    }
                }
                return count * 2
            }
        }
    }
}
