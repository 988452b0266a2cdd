// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
        .executable(name: "baton-bench", targets: ["BatonBench"]),
        .library(name: "BatonWorker", targets: ["BatonWorker"]),
        .library(name: "BatonNATS", targets: ["BatonNATS"]),
    ],
    traits: [
        // Off by default: swift-otel and what it brings (async-http-client, swift-nio-ssl,
        // swift-protobuf) add minutes to a clean build. `make test` and CI turn it on.
        .trait(name: "OTel", description: "Export traces over OTLP/HTTP (--otel-endpoint) with swift-otel."),
    ],
    dependencies: [
        // Traits off: Baton needs neither swift-configuration nor full Foundation in Hummingbird.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // Already in the graph through Hummingbird (HummingbirdTLS); named for the gateway's
        // certificate loading.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OTLP/HTTP only: the gRPC exporter would build grpc-swift too.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // Compiles BatonGateway's OpenAPI/openapi.json into it (scripts/embed-openapi.sh).
        .plugin(name: "EmbedOpenAPI", capability: .buildTool()),
        // Compiles BatonGateway's Console/ (the web console at /ui) into it (scripts/embed-console.sh).
        .plugin(name: "EmbedConsole", capability: .buildTool()),
        // nats.c (Debian: libnats-dev), found through pkg-config.
        .systemLibrary(
            name: "CNats",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        // The only module that touches the nats.c API.
        .target(
            name: "BatonNATS",
            dependencies: [
                "CNats",
                // Ed25519, to derive an NKey seed's public key (NKeySeed).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libcurl (Debian: libcurl4-openssl-dev), found through pkg-config; shim.h wraps the
        // variadic curl_easy_setopt/getinfo in typed functions Swift can call.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // HTTP over libcurl on its own threads (reused easy handles, cancellation, streamed
        // bodies, address pinning as options), for the webhook sender and the CLI: the only
        // module that touches libcurl.
        .target(
            name: "BatonHTTPClient",
            dependencies: [
                "CCurl",
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Webhook delivery: Standard Webhooks signatures, target policy (SSRF), retry schedule,
        // over BatonHTTPClient.
        .target(
            name: "BatonWebhooks",
            dependencies: [
                "BatonHTTPClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Job model, subjects, wire headers, codecs, problem documents: no I/O.
        .target(
            name: "BatonCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The JetStream layout (streams, buckets) and the job/result/service stores over it,
        // shared by gateway and worker.
        .target(
            name: "BatonStore",
            dependencies: [
                "BatonCore", "BatonNATS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Metrics (swift-metrics → Prometheus), log formats, W3C trace
        // context and the spans of a job (exported over OTLP with the OTel trait): what
        // operators look at.
        .target(
            name: "BatonObservability",
            dependencies: [
                "BatonCore",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTel"])),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What every Baton HTTP listener shares: `GET /metrics` over Hummingbird, the worker's
        // small /metrics + /healthz server, and a problem document for a request NIO's parser
        // refuses. Kept out of BatonObservability so the BatonWorker library does not pull in an
        // HTTP server.
        .target(
            name: "BatonHTTPServer",
            dependencies: [
                "BatonCore",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The worker runtime: register service handlers, pull or serve jobs, report progress.
        .target(
            name: "BatonWorker",
            dependencies: [
                "BatonCore", "BatonNATS", "BatonStore", "BatonObservability",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "BatonGateway",
            dependencies: [
                "BatonCore", "BatonNATS", "BatonStore", "BatonWebhooks", "BatonObservability", "BatonHTTPServer",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Compiled in as `OpenAPIDocument.json` by the EmbedOpenAPI plugin, and as
            // `ConsoleAssets.files` by the EmbedConsole plugin.
            exclude: ["OpenAPI/openapi.json", "Console"],
            plugins: ["EmbedOpenAPI", "EmbedConsole"]
        ),
        // The example services (echo, slow, fail) used by `baton dev`, the tests and the docs.
        .target(
            name: "BatonExamples",
            dependencies: ["BatonCore", "BatonWorker", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // Runs a nats-server child process (for `baton dev` and the tests).
        .target(
            name: "EmbeddedNATS",
            dependencies: ["BatonNATS", .product(name: "Logging", package: "swift-log")]
        ),
        // What the test targets share and production never links: the nats-server a test
        // process shares, a local HTTP server, waits on events with a deadline, a log capture.
        .target(
            name: "BatonTestSupport",
            dependencies: [
                "EmbeddedNATS", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Support",
            // Run by SecurityMaterial: certificates, NKeys and JWTs for the NATS security tests.
            exclude: ["nats_security.py"]
        ),
        .executableTarget(
            name: "baton",
            dependencies: [
                "BatonCore", "BatonNATS", "BatonStore", "BatonWorker", "BatonGateway", "BatonExamples", "EmbeddedNATS",
                "BatonObservability", "BatonHTTPServer", "BatonHTTPClient", "BatonWebhooks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Baselines and probes for `make bench`.
        .executableTarget(
            name: "BatonBench",
            dependencies: [
                "BatonNATS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "BatonCoreTests",
            dependencies: ["BatonCore"]
        ),
        .testTarget(
            name: "BatonStoreTests",
            dependencies: ["BatonStore", "BatonCore", "BatonNATS", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "BatonHTTPClientTests",
            dependencies: [
                "BatonHTTPClient", "BatonTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "BatonWebhooksTests",
            dependencies: [
                "BatonWebhooks", "BatonTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "BatonNATSTests",
            dependencies: [
                "BatonNATS", "EmbeddedNATS", "BatonTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The gateway's HTTP contract through HummingbirdTesting's `.router` framework, over an
        // in-memory backend (Memory/): no nats-server, no sockets.
        .testTarget(
            name: "BatonGatewayTests",
            dependencies: [
                "BatonGateway", "BatonCore", "BatonStore", "BatonObservability", "BatonTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "BatonIntegrationTests",
            dependencies: [
                "baton", "BatonCore", "BatonNATS", "BatonStore", "BatonWorker", "BatonGateway", "BatonExamples", "EmbeddedNATS",
                "BatonWebhooks", "BatonObservability", "BatonHTTPServer", "BatonTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["Support/micro_check.py", "Support/console_check.py", "Support/kubernetes_check.py"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
