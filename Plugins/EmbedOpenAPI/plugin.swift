import Foundation
import PackagePlugin

/// Compiles a target's `OpenAPI/openapi.json` into it as `OpenAPIDocument.json`, a raw string
/// literal generated into the build directory by `scripts/embed-openapi.sh`: an installed binary
/// serves its OpenAPI document with no source tree and no resource bundle beside it, and the
/// repository holds the document once.
@main
struct EmbedOpenAPI: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let json = target.directoryURL.appending(path: "OpenAPI/openapi.json")
        let script = context.package.directoryURL.appending(path: "scripts/embed-openapi.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "OpenAPIDocument.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(target.name)'s openapi.json",
                executable: URL(filePath: "/bin/bash"),
                arguments: [script.path(), json.path(), output.path()],
                inputFiles: [json, script],
                outputFiles: [output])
        ]
    }
}
