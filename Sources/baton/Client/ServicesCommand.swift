import ArgumentParser
import Foundation

/// `baton services`: the service catalogue as a table.
struct ServicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services",
        abstract: "List the services (GET /v1/services): name, lane, version, live instances, jobs waiting.",
        discussion: """
            INSTANCES counts the worker processes offering the service now; PENDING the durable \
            jobs waiting in its queue (- on the fast lane, which has no queue), RUNNING those \
            handed to a worker and not yet acknowledged.

            \(ConfigurationHelp.discussion(example: "E.g. BATON_GATEWAY=http://gw:8080 baton services."))
            """)

    @Flag(help: "Print the catalogue JSON as the gateway gives it.")
    var json = false

    @OptionGroup var client: ClientOptions
    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        let gateway = try client.client()
        let response = try await gateway.send("GET", "/v1/services")
        guard response.isSuccess else {
            Output.statusLine(response)
            Output.failure(response)
            if response.status == 404, !response.isProblem || Self.isRouteMissing(response) {
                Output.err("(this gateway has no service catalogue: GET /v1/services is not there)\n")
            }
            throw ExitCode.failure
        }
        if json {
            Output.json(response.body)
            return
        }
        guard let catalogue = try? JSONDecoder().decode(Catalogue.self, from: response.body) else {
            Output.err("error: unexpected catalogue from \(gateway.base)/v1/services:\n")
            Output.json(response.body)
            throw ExitCode.failure
        }
        Output.out(Self.table(catalogue))
    }

    static func table(_ catalogue: Catalogue) -> String {
        var rows = [["NAME", "LANE", "VERSION", "INSTANCES", "PENDING", "RUNNING"]]
        for service in catalogue.services {
            rows.append([
                service.name, service.lane ?? "?", service.version.flatMap { $0.isEmpty ? nil : $0 } ?? "-",
                String(service.instances?.count ?? 0),
                service.queue.map { String($0.pending ?? 0) } ?? "-",
                service.queue.map { String($0.ackPending ?? 0) } ?? "-",
            ])
        }
        if catalogue.services.isEmpty { return "no services registered\n" }
        return Table(rows: rows).rendered
    }

    private static func isRouteMissing(_ response: GatewayResponse) -> Bool {
        String(decoding: response.body, as: UTF8.self).contains("/problems/not-found")
    }

    /// The fields of `GET /v1/services` the table shows (others are ignored).
    struct Catalogue: Decodable {
        struct Service: Decodable {
            struct Instance: Decodable {
                var id: String?
            }

            struct Queue: Decodable {
                var pending: Int64?
                var ackPending: Int64?
                var redelivered: Int64?

                enum CodingKeys: String, CodingKey {
                    case pending
                    case ackPending = "ack_pending"
                    case redelivered
                }
            }

            var name: String
            var lane: String?
            var version: String?
            var description: String?
            var instances: [Instance]?
            var queue: Queue?
        }

        var services: [Service]
    }
}
