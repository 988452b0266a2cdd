import Foundation
import NIOCore

extension ByteBuffer {
    /// A buffer holding `data`'s bytes (NIOFoundationCompat's initializer, without depending on it).
    init(data: Data) {
        self = ByteBufferAllocator().buffer(capacity: data.count)
        self.writeBytes(data)
    }
}
