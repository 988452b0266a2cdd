import ArgumentParser
import BatonGateway
import Foundation

/// `baton keys`: helpers for the gateway's API key file.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Helpers for the gateway's API key file (--api-keys).", subcommands: [HashKeyCommand.self])
}

/// `baton keys hash`: the key file's hashed form of a secret, so the file need not hold the
/// secret itself.
struct HashKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Print an API key secret hashed for the key file: sha256:<hex>, or the whole name:sha256:<hex>[:rate] line with --name.",
        discussion: """
            The secret comes from the argument or, without one, from the first line of standard \
            input (which keeps it out of the shell history and the process list). A name may have \
            two lines in the key file, each valid: add the new secret's line, move the clients \
            over, then delete the old line. E.g.
              openssl rand -base64 32 | tee ci.secret | baton keys hash --name ci >> /etc/baton/api-keys
            """)

    @Argument(help: "The secret (at least 16 characters; default: read from standard input).")
    var secret: String?

    @Option(help: "Print the whole key-file line for this key name.")
    var name: String?

    @Option(help: "With --name: the key's requests per second (its :rate).")
    var rate: Double?

    func run() throws {
        guard let secret = (secret ?? readLine(strippingNewline: true))?.trimmingCharacters(in: .whitespaces), !secret.isEmpty else {
            throw ValidationError("no secret: give it as the argument or on standard input")
        }
        guard secret.count >= APIKeys.minimumSecretLength else {
            throw ValidationError("a secret has at least \(APIKeys.minimumSecretLength) characters")
        }
        let hashed = APIKeys.hashed(secret)
        guard let name else {
            if rate != nil { throw ValidationError("--rate needs --name") }
            print(hashed)
            return
        }
        let text = ([name, hashed] + (rate.map { [APIKeys.format($0)] } ?? [])).joined(separator: ":")
        // The line as the gateway will read it: a bad name or rate is refused here, not at start.
        do {
            _ = try APIKeys(parsing: text)
        } catch {
            throw ValidationError("\(error)")
        }
        print(text)
    }
}
