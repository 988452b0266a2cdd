import BatonCore
import BatonNATS
import BatonStore
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/jobs/{id}/events`: a job as server-sent events (`text/event-stream`).
///
/// `event: state` with the status document first, then `event: progress` for each progress
/// event, then `event: done` with the final status document, and the stream ends. Idle streams
/// get a `: heartbeat` comment every `sseHeartbeat` so proxies keep them open. Any gateway can
/// serve it: the events come from NATS subjects, not from the gateway that took the job. A
/// gateway that shuts down ends its streams (the client reconnects elsewhere).
struct JobEvents: Sendable {
    let connection: NATSConnection
    let store: JobStore
    let heartbeat: Duration

    private enum Item: Sendable {
        case message(NATSMessage)
        case ended
        case heartbeat
    }

    func response(for record: JobRecord) throws -> Response {
        // Subscribe before re-reading the record (inside the body), so nothing falls between:
        // progress events, and the job's end (the write of its answer entry).
        let subscription = try connection.subscribe(to: Subjects.progress(service: record.service, job: record.id), bufferLimit: 4096)
        let ends = try connection.subscribe(to: Subjects.answer(job: record.id), bufferLimit: 16)
        let store = self.store
        let heartbeat = self.heartbeat
        let id = record.id
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-cache", .batonJobID: id,
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer {
                subscription.unsubscribe()
                ends.unsubscribe()
            }
            let current = (try? await store.record(id)?.record) ?? record
            try await writer.write(Self.event("state", JobStatus(record: current).json()))
            if current.state.isTerminal {
                try await writer.write(Self.event("done", JobStatus(record: current).json()))
                try await writer.finish(nil)
                return
            }
            let (items, input) = AsyncStream.makeStream(of: Item.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await message in subscription { input.yield(.message(message)) }
                    input.finish()
                }
                group.addTask {
                    for await _ in ends {
                        // The end and the progress reports come on two subscriptions, each
                        // delivered on its own thread, so a report published just before the
                        // end can be delivered just after it: a moment's grace lets the stream
                        // show it before `done` (progress events are best effort either way).
                        try? await Task.sleep(for: Self.endGrace)
                        input.yield(.ended)
                        return
                    }
                }
                let connection = self.connection
                group.addTask {
                    // A heartbeat per interval; a draining gateway ends the stream at once (the
                    // client reconnects, through the load balancer, to another gateway).
                    while !Task.isCancelled {
                        await connection.waitUntilInterrupted(timeout: heartbeat)
                        if connection.waitsInterrupted {
                            input.finish()
                            return
                        }
                        input.yield(.heartbeat)
                    }
                }
                loop: for await item in items {
                    switch item {
                    case .heartbeat:
                        try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    case .message(let message):
                        try await writer.write(Self.event("progress", message.payload))
                    case .ended:
                        let final = (try? await store.ended(id))??.record ?? current
                        try await writer.write(Self.event("done", JobStatus(record: final).json()))
                        break loop
                    }
                }
                group.cancelAll()
                input.finish()
            }
            try await writer.finish(nil)
        })
    }

    static let endGrace: Duration = .milliseconds(25)

    /// One event: `event:` line, the JSON on one `data:` line (JSON has no raw newlines).
    static func event(_ name: String, _ data: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
        var data = data
        buffer.writeBuffer(&data)
        buffer.writeString("\n\n")
        return buffer
    }
}
