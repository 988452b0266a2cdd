import BatonCore
import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

extension Problem {
    /// The problem of a request NIO's HTTP/1 parser refused.
    public static func parsing(_ error: HTTPParserError) -> Problem {
        if case .headerOverflow = error { return .headerFieldsTooLarge }
        return .malformedRequest("\(error)")
    }
}

/// Answers a request that NIO's HTTP/1 parser refuses before any route sees it (a bad request
/// line, a malformed or oversized header) with a problem document, where Hummingbird would
/// write an empty `400`; then closes the connection, as Hummingbird does.
///
/// A refusal that follows whole requests still being answered (pipelined) is answered after
/// their responses. One inside a request's body goes on to the route that reads the body, and
/// `ProblemMiddleware` answers it.
public final class MalformedRequestProblems: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    /// Requests passed on whose response has not ended.
    private var responsesOwed = 0
    /// A request's head passed on, and not yet its end.
    private var inBody = false
    /// A refusal waiting for the responses owed (the parser's error: a byte, not its problem
    /// document, in every connection's handler).
    private var refusal: HTTPParserError?

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            responsesOwed += 1
            inBody = true
        case .end:
            inBody = false
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        responsesOwed -= 1
        context.write(data, promise: promise)
        if responsesOwed == 0, let refusal { answer(.parsing(refusal), context: context) }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError, !inBody else {
            context.fireErrorCaught(error)
            return
        }
        if responsesOwed == 0 {
            answer(.parsing(error), context: context)
        } else {
            refusal = refusal ?? error
        }
    }

    private func answer(_ problem: Problem, context: ChannelHandlerContext) {
        let body = problem.encoded()
        let head = HTTPResponse(
            status: .init(code: problem.statusCode),
            headerFields: [.contentType: Problem.mediaType, .contentLength: String(body.readableBytes), .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

extension HTTPServerBuilder {
    /// Hummingbird's HTTP/1 server with `MalformedRequestProblems`: the operator listeners'
    /// (a gateway's `--admin-port`, a worker's `--metrics-port`). The API port builds its own
    /// channel (`HeldCallHTTP1Channel`) with the same handler.
    public static var http1WithProblems: HTTPServerBuilder {
        .http1(configuration: .init(additionalChannelHandlers: [MalformedRequestProblems()]))
    }
}
