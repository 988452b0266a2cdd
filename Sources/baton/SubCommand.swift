import ArgumentParser
import BatonNATS
import Foundation
import Logging

/// `baton sub SUBJECT`: print the messages on a subject, like `nats sub` (Debian has no NATS CLI).
struct SubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub", abstract: "Print messages on a NATS subject (wildcards allowed), like `nats sub`.",
        discussion: ConfigurationHelp.discussion(example: "E.g. BATON_NATS_URL=nats://a:4222 or BATON_HEADERS=true."))

    @Argument(help: "Subject, e.g. 'baton.progress.>' or 'baton.done.>'.")
    var subject: String

    @Option(name: .customLong("nats-url"), help: "NATS server URLs, comma-separated (env BATON_NATS_URL).")
    var natsURL = "nats://127.0.0.1:4222"

    @OptionGroup(title: "NATS security") var nats: NATSSecurityOptions

    @Option(help: "Stop after this many messages (0: never).")
    var count = 0

    @Flag(help: "Print headers too.")
    var headers = false

    @OptionGroup var configFile: ConfigFileOption

    func run() async throws {
        var logger = Logger(label: "baton.sub")
        logger.logLevel = .warning
        let connection = try await NATSConnection.connect(nats.configuration(urls: natsURL, name: "baton-sub"), logger: logger)
        let subscription = try connection.subscribe(to: subject)
        FileHandle.standardError.write(Data("Listening on \(subject)\n".utf8))
        var seen = 0
        for await message in subscription {
            seen += 1
            var line = "[#\(seen)] \(message.subject)"
            if headers {
                for field in message.headers { line += "\n  \(field.name): \(field.value)" }
            }
            line += "\n\(message.string)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
            if count > 0, seen >= count { break }
        }
        await connection.close()
    }
}
