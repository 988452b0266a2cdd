/// The JSON answers of the NATS micro-service protocol (ADR-32), field for field as the JSON
/// schemas `io.nats.micro.v1.*_response` that the `nats` CLI validates against.
enum MicroType {
    static let ping = "io.nats.micro.v1.ping_response"
    static let info = "io.nats.micro.v1.info_response"
    static let stats = "io.nats.micro.v1.stats_response"
}

/// `$SRV.PING` answer.
struct MicroPingResponse: Encodable, Sendable {
    var type = MicroType.ping
    var name: String
    var id: String
    var version: String
    var metadata: [String: String]
}

/// `$SRV.INFO` answer: the identity plus `description` (required, may be empty) and the
/// endpoints.
struct MicroInfoResponse: Encodable, Sendable {
    var type = MicroType.info
    var name: String
    var id: String
    var version: String
    var description: String
    var metadata: [String: String]
    var endpoints: [MicroEndpointInfo]
}

/// One endpoint in an INFO answer.
struct MicroEndpointInfo: Encodable, Sendable {
    var name: String
    var subject: String
    var queueGroup: String
    var metadata: [String: String]

    enum CodingKeys: String, CodingKey {
        case name, subject, metadata
        case queueGroup = "queue_group"
    }
}

/// `$SRV.STATS` answer: the identity plus `started` (RFC 3339) and per-endpoint counters.
struct MicroStatsResponse: Encodable, Sendable {
    var type = MicroType.stats
    var name: String
    var id: String
    var version: String
    var metadata: [String: String]
    var started: String
    var endpoints: [MicroEndpointStatsResponse]
}

/// One endpoint in a STATS answer. Times are integer nanoseconds; `lastError` is "" when no
/// request failed (the schema requires the field).
struct MicroEndpointStatsResponse: Encodable, Sendable {
    var name: String
    var subject: String
    var queueGroup: String
    var numRequests: Int64
    var numErrors: Int64
    var lastError: String
    var processingTime: Int64
    var averageProcessingTime: Int64
    var data: [String: String] = [:]

    enum CodingKeys: String, CodingKey {
        case name, subject, data
        case queueGroup = "queue_group"
        case numRequests = "num_requests"
        case numErrors = "num_errors"
        case lastError = "last_error"
        case processingTime = "processing_time"
        case averageProcessingTime = "average_processing_time"
    }
}
