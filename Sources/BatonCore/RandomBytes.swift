import Synchronization

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#endif

/// Bytes from the system's cryptographic random source.
///
/// `SystemRandomNumberGenerator` makes a `getrandom` system call per 8 bytes; a submitted job
/// drew eight of them (its id and its trace context). One call per value still made two per
/// fast-lane call, ~3% of a gateway's CPU in perf (a system call costs more in a VM). So the
/// bytes come from a pool of the kernel's bytes, refilled 4 KB at a time (16 `getentropy` calls
/// of 256 bytes) every ~100 submits (a job id and a trace context draw 40 bytes). They are still
/// the kernel's CSPRNG output, unguessable as before; each byte is handed out once and wiped
/// from the pool as it goes (a later leak of the pool's memory shows no id already given).
/// Darwin's `arc4random_buf` is used as it is.
public enum RandomBytes {
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.baseAddress != nil, buffer.count > 0 else { return }
        #if canImport(Darwin)
        arc4random_buf(buffer.baseAddress!, buffer.count)
        #else
        pool.take(into: buffer)
        #endif
    }

    /// `count` random bytes as lowercase hex (`2 × count` characters).
    public static func hex(_ count: Int) -> String {
        withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { random in
            fill(random)
            return String(unsafeUninitializedCapacity: count * 2) { text in
                writeHex(of: UnsafeRawBufferPointer(random), into: text, at: 0)
                return count * 2
            }
        }
    }

    /// Writes `bytes` as lowercase hex into `text` from `offset` on (two characters a byte).
    public static func writeHex(of bytes: UnsafeRawBufferPointer, into text: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { digits in
            for (i, byte) in bytes.enumerated() {
                text[offset + 2 * i] = digits[Int(byte >> 4)]
                text[offset + 2 * i + 1] = digits[Int(byte & 15)]
            }
        }
    }

    #if !canImport(Darwin)
    private static let pool = Pool()

    /// The kernel's random bytes not handed out yet: `bytes[next...]`, under `lock`.
    /// `@unchecked Sendable`: its buffer and counters are only touched with the lock held.
    final class Pool: @unchecked Sendable {
        static let size = 4096
        private let lock = Mutex(())
        private let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: Pool.size, alignment: 16)
        private var next = Pool.size
        /// Refills so far (for the tests).
        private var refillCount = 0

        deinit { bytes.deallocate() }

        var refills: Int { lock.withLock { _ in refillCount } }

        func take(into buffer: UnsafeMutableRawBufferPointer) {
            nonisolated(unsafe) let buffer = buffer
            lock.withLock { _ in
                var filled = 0
                while filled < buffer.count {
                    if next == Pool.size { refill() }
                    let count = min(buffer.count - filled, Pool.size - next)
                    let source = UnsafeMutableRawBufferPointer(rebasing: bytes[next..<(next + count)])
                    UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + count)]).copyMemory(from: UnsafeRawBufferPointer(source))
                    source.initializeMemory(as: UInt8.self, repeating: 0)
                    next += count
                    filled += count
                }
            }
        }

        private func refill() {
            refillCount += 1
            var filled = 0
            while filled < Pool.size {
                // getentropy: one getrandom call for up to 256 bytes.
                let count = min(256, Pool.size - filled)
                guard getentropy(bytes.baseAddress! + filled, count) == 0 else {
                    // Not expected on Linux ≥ 3.17; the standard library's generator never fails.
                    var generator = SystemRandomNumberGenerator()
                    for i in filled..<Pool.size { bytes[i] = generator.next() }
                    break
                }
                filled += count
            }
            next = 0
        }
    }

    #endif
}
