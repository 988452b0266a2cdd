import BatonCore
import BatonExamples
@testable import BatonGateway
import Foundation
import Testing

/// The Kubernetes manifests (`deploy/kubernetes`, with its `autoscaling/` overlays) are valid
/// against their schemas — Kubernetes' own (PyPI kubernetes-validate, strict) and KEDA's
/// ScaledObject CRD (vendored in `deploy/kubernetes/schemas`) — as `Support/kubernetes_check.py`
/// renders and checks them, and the autoscalers name what Baton really creates: the worker's
/// ScaledObject reads one consumer per service and priority of the Deployment it scales (the
/// names `Streams.consumer(service:priority:)` gives), adds their lags, aims at the worker's
/// concurrency, and scales to zero only Deployments whose services are all durable. The flags and
/// `BATON_*` variables in these files are checked by `DeployFlagsTests`.
@Suite("Kubernetes manifests", .timeLimit(.minutes(2)))
struct KubernetesManifestTests {
    static let folder = OpenAPITests.repository.appendingPathComponent("deploy/kubernetes")
    static let checker = OpenAPITests.repository.appendingPathComponent("Tests/BatonIntegrationTests/Support/kubernetes_check.py").path

    @Test func manifestsMatchTheirSchemasAndBatonsNames() async throws {
        let summary = try await Self.check(Self.folder)
        let folders = summary.kustomizations.map(\.folder)
        #expect(Set(folders) == [".", "autoscaling", "autoscaling/metrics-adapter"], "\(folders)")

        let scaled = summary.kustomizations.flatMap(\.scaledObjects)
        #expect(scaled.contains { $0.target == "baton-worker" }, "no ScaledObject for the workers")
        for object in scaled { try Self.checkWorkerScaling(object) }

        let gateways = summary.kustomizations.flatMap(\.horizontalPodAutoscalers).filter { $0.target == "baton-gateway" }
        #expect(gateways.count == 2, "one gateway HPA per autoscaling overlay")
        for hpa in gateways {
            let metrics = hpa.spec["metrics"] as? [[String: Any]] ?? []
            #expect(metrics.contains { ($0["resource"] as? [String: Any])?["name"] as? String == "cpu" }, "\(hpa.name) does not scale on CPU")
            #expect((hpa.spec["minReplicas"] as? Int ?? 0) >= 2, "one gateway left while the other is replaced")
        }
        // With the metrics adapter, the Pods metric is the gauge the gateway really exports.
        let podMetrics = gateways.flatMap { $0.spec["metrics"] as? [[String: Any]] ?? [] }
            .compactMap { (($0["pods"] as? [String: Any])?["metric"] as? [String: Any])?["name"] as? String }
        #expect(podMetrics == [GatewayMetrics.waiting.label])
    }

    /// The check finds what is wrong: a misspelt field (Kubernetes and KEDA), a value of the
    /// wrong type, a patch on a missing object and a manifest no kustomization applies.
    @Test func theCheckReportsBrokenManifests() async throws {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("baton-k8s-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Self.folder, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        func edit(_ path: String, _ from: String, _ to: String) throws {
            let url = copy.appendingPathComponent(path)
            let text = try String(contentsOf: url, encoding: .utf8)
            #expect(text.contains(from), "\(path) no longer has \(from)")
            try text.replacingOccurrences(of: from, with: to).write(to: url, atomically: true, encoding: .utf8)
        }
        try edit("gateway.yaml", "failureThreshold: 2", "failureTreshold: 2")
        try edit("autoscaling/worker-scaledobject.yaml", "minReplicaCount: 0", "minReplicaCont: 0")
        try edit("autoscaling/worker-scaledobject.yaml", "pollingInterval: 5", #"pollingInterval: "5""#)
        try edit("autoscaling/metrics-adapter/kustomization.yaml", "name: baton-gateway", "name: baton-gatewy")
        try "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray}\n".write(
            to: copy.appendingPathComponent("autoscaling/stray.yaml"), atomically: true, encoding: .utf8)

        let run = try await runPython([Self.checker, copy.path], timeout: .seconds(90))
        #expect(run.status == 1, "\(run.output)")
        for expected in ["'failureTreshold' was unexpected", "'minReplicaCont' was unexpected", "pollingInterval: '5' is not of type 'integer'",
                         "matches no object", "stray.yaml: no kustomization applies this file"] {
            #expect(run.output.contains(expected), "missing \(expected) in:\n\(run.output)")
        }
    }

    /// One worker ScaledObject against Baton's names and the Deployment's own settings.
    static func checkWorkerScaling(_ object: Summary.Scaler) throws {
        let services = (object.environment["BATON_SERVICES"] ?? "").split(separator: ",").map(String.init)
        #expect(!services.isEmpty, "\(object.target) serves no BATON_SERVICES")
        let concurrency = try #require(object.environment["BATON_CONCURRENCY"], "\(object.target) sets no BATON_CONCURRENCY")

        let triggers = object.spec["triggers"] as? [[String: Any]] ?? []
        var consumers: Set<String> = []
        var names: Set<String> = []
        for trigger in triggers {
            let metadata = trigger["metadata"] as? [String: String] ?? [:]
            #expect(trigger["type"] as? String == "nats-jetstream")
            #expect(metadata["stream"] == Streams.jobs)
            #expect(metadata["lagThreshold"] == concurrency, "\(metadata)")
            #expect(metadata["natsServerMonitoringEndpoint"]?.hasSuffix(":8222") == true, "\(metadata)")
            consumers.insert(metadata["consumer"] ?? "")
            names.insert(trigger["name"] as? String ?? "")
        }
        let expected = Set(services.flatMap { service in Priority.allCases.map { Streams.consumer(service: service, priority: $0) } })
        #expect(consumers == expected, "triggers read \(consumers.sorted()), the workers use \(expected.sorted())")
        #expect(triggers.count == expected.count)

        // The formula adds every trigger's lag, and the target is what one worker runs at once.
        let modifiers = (object.spec["advanced"] as? [String: Any])?["scalingModifiers"] as? [String: Any] ?? [:]
        let terms = (modifiers["formula"] as? String ?? "").split(separator: "+").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(Set(terms) == names && terms.count == names.count, "formula \(terms) vs triggers \(names.sorted())")
        #expect(modifiers["target"] as? String == concurrency)

        if object.spec["minReplicaCount"] as? Int == 0 {
            for service in services {
                #expect(ExampleServices.definition(service)?.lane == .durable, "\(service) is not durable: its workers cannot scale to zero")
            }
        }
    }

    static func check(_ folder: URL) async throws -> Summary {
        let summaryFile = FileManager.default.temporaryDirectory.appendingPathComponent("baton-k8s-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: summaryFile) }
        let run = try await runPython([checker, folder.path, "--summary", summaryFile.path], timeout: .seconds(90))
        #expect(run.status == 0, "kubernetes_check.py:\n\(run.output)")
        return try Summary(json: try Data(contentsOf: summaryFile))
    }

    /// What kubernetes_check.py writes to --summary: per kustomization, the autoscalers with
    /// their spec and the variables of the Deployment they scale.
    struct Summary {
        struct Scaler {
            var name: String
            var target: String
            var spec: [String: Any]
            var environment: [String: String]
        }
        struct Kustomization {
            var folder: String
            var scaledObjects: [Scaler]
            var horizontalPodAutoscalers: [Scaler]
        }
        var kustomizations: [Kustomization]

        init(json: Data) throws {
            let root = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
            func scalers(_ value: Any?) -> [Scaler] {
                (value as? [[String: Any]] ?? []).map {
                    Scaler(name: $0["name"] as? String ?? "", target: $0["target"] as? String ?? "",
                           spec: $0["spec"] as? [String: Any] ?? [:], environment: $0["environment"] as? [String: String] ?? [:])
                }
            }
            kustomizations = (root["kustomizations"] as? [[String: Any]] ?? []).map {
                Kustomization(folder: $0["folder"] as? String ?? "", scaledObjects: scalers($0["scaledObjects"]),
                              horizontalPodAutoscalers: scalers($0["horizontalPodAutoscalers"]))
            }
        }
    }
}
