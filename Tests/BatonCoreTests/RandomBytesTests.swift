import Testing

@testable import BatonCore

/// `RandomBytes` hands out the kernel's bytes from a pool: each byte once, the pool refilled
/// (16 `getentropy` calls) once per 4 KB drawn, not a kernel call per value.
@Suite("random bytes") struct RandomBytesTests {
    /// A pool of its own, so that the count is this test's alone (the process's pool serves
    /// every suite running meanwhile).
    @Test func drawsComeFromThePoolAndItsRefills() {
        #if !canImport(Darwin)
        let pool = RandomBytes.Pool()
        var seen = Set<[UInt8]>()
        for _ in 0..<25_600 {  // 400 KB in job-id-sized draws: 100 refills
            var draw = [UInt8](repeating: 0, count: 16)
            draw.withUnsafeMutableBytes { pool.take(into: $0) }
            seen.insert(draw)
        }
        #expect(pool.refills == 100)
        #expect(seen.count == 25_600)  // no draw handed out twice, none left zeroed
        #endif
    }

    /// A draw larger than the pool spans refills and is random throughout: no stretch of the
    /// zeros the pool leaves where it handed bytes out.
    @Test func aLargeDrawIsRandomThroughout() {
        var bytes = [UInt8](repeating: 0, count: 10_000)
        bytes.withUnsafeMutableBytes { RandomBytes.fill($0) }
        var longestZeros = 0
        var zeros = 0
        for byte in bytes {
            zeros = byte == 0 ? zeros + 1 : 0
            longestZeros = max(longestZeros, zeros)
        }
        #expect(longestZeros < 8)
        #expect(Set(bytes).count > 250)
    }

    @Test func jobIDsDiffer() {
        let ids = (0..<10_000).map { _ in JobID.make() }
        #expect(Set(ids).count == 10_000)
        #expect(ids.allSatisfy(JobID.isValid))
    }
}
