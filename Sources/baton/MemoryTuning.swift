#if canImport(Glibc)
import Glibc

/// glibc malloc gives freed memory back to the kernel eagerly and then faults fresh, zeroed
/// pages in again: under load a worker spent ~10% of its time in `clear_page` below `sysmalloc`.
/// Keeping a few MiB of slack per arena removes that churn for a bounded memory cost.
enum MemoryTuning {
    // <malloc.h> is not part of Swift's Glibc module: declare the one call and its options.
    @_silgen_name("mallopt") private static func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
    private static let trimThreshold: Int32 = -1  // M_TRIM_THRESHOLD
    private static let topPad: Int32 = -2  // M_TOP_PAD
    private static let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD

    static func apply() {
        if let value = getenv("BATON_MALLOC_TUNING"), String(cString: value) == "0" { return }
        _ = mallopt(trimThreshold, 32 << 20)
        _ = mallopt(topPad, 4 << 20)
        _ = mallopt(mmapThreshold, 4 << 20)
    }
}
#else
enum MemoryTuning {
    static func apply() {}
}
#endif
