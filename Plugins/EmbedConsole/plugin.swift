import Foundation
import PackagePlugin

/// Compiles the files of a target's `Console/` folder (the web console's HTML, CSS and
/// JavaScript) into it as `ConsoleAssets.files`, raw string literals generated into the build
/// directory by `scripts/embed-console.sh`: an installed binary serves `/ui` with no files beside
/// it, no CDN and no Node toolchain.
@main
struct EmbedConsole: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let folder = target.directoryURL.appending(path: "Console")
        let script = context.package.directoryURL.appending(path: "scripts/embed-console.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "ConsoleAssets.swift")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path())
            .filter { !$0.hasPrefix(".") }
            .sorted()
        let files = names.map { folder.appending(path: $0) }
        return [
            .buildCommand(
                displayName: "Embedding \(target.name)'s console assets",
                executable: URL(filePath: "/bin/bash"),
                arguments: [script.path(), output.path()] + files.map { $0.path() },
                inputFiles: files + [script],
                outputFiles: [output])
        ]
    }
}
