import BatonHTTPServer
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Hummingbird's HTTP/1 channel, set up for connections that mostly wait: a held sync call keeps
/// its connection's buffers for as long as the worker takes.
///
/// - The receive buffer starts at 512 bytes rather than NIO's 2 KiB (it grows after a read that
///   fills it): each connection keeps one, and a request head is usually smaller.
/// - A small request body is copied out of the receive buffer it arrived in (`CompactBodyParts`):
///   a body slice would otherwise keep that whole buffer alive for the call, and the connection's
///   next read would have to allocate a second one.
struct HeldCallHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    static let receiveBuffer = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    static func builder() -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            HeldCallHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [CompactBodyParts(), MalformedRequestProblems()])))
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffer)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Copies a request body part that uses a small share of its receive buffer into a buffer of
/// its own, so that the receive buffer can be reused instead of living as long as the request.
final class CompactBodyParts: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .body(let part) = unwrapInboundIn(data), part.readableBytes * 2 <= part.storageCapacity else {
            context.fireChannelRead(data)
            return
        }
        var copy = context.channel.allocator.buffer(capacity: part.readableBytes)
        copy.writeImmutableBuffer(part)
        context.fireChannelRead(wrapInboundOut(.body(copy)))
    }
}
