import BatonNATS
import Testing

/// How Baton changes an existing stream (no server: `StreamSpec.reconciled(with:)` is pure).
@Suite("Stream changes: only those that delete nothing")
struct StreamChangesTests {
    private func jobs(bound: Int64, maxAge: Duration? = .seconds(86_400)) -> StreamSpec {
        var spec = StreamSpec(name: "BATON_JOBS", subjects: ["baton.jobs.>"])
        spec.retention = .workQueue
        spec.discardNew = true
        spec.maxAge = maxAge
        spec.maxMessagesPerSubject = bound
        spec.discardNewPerSubject = bound > 0
        return spec
    }

    @Test func aLowerBoundIsRefusedAndTheCurrentOneKept() {
        let (merged, refused) = jobs(bound: 5).reconciled(with: jobs(bound: 50))
        #expect(merged.maxMessagesPerSubject == 50 && merged.discardNewPerSubject)
        #expect(refused.map(\.field) == ["max_msgs_per_subject"])
        #expect(refused.first?.description == "BATON_JOBS: max_msgs_per_subject stays 50, not 5 (lowering a limit deletes the messages above it)")
    }

    @Test func aBoundOnAnUnboundedStreamIsALowering() {
        let (merged, refused) = jobs(bound: 5).reconciled(with: jobs(bound: -1))
        #expect(merged.maxMessagesPerSubject == -1 && !merged.discardNewPerSubject)
        #expect(refused.map(\.field) == ["max_msgs_per_subject"])
    }

    @Test func raisingAndUnboundingAreApplied() {
        let (raised, none) = jobs(bound: 500).reconciled(with: jobs(bound: 50))
        #expect(raised == jobs(bound: 500) && none.isEmpty)
        let (unbounded, refused) = jobs(bound: 0).reconciled(with: jobs(bound: 50))
        #expect(unbounded.maxMessagesPerSubject == 0 && !unbounded.discardNewPerSubject && refused.isEmpty)
    }

    @Test func otherLimitsOnlyRise() {
        var asked = jobs(bound: 50, maxAge: .seconds(60))
        asked.maxMessages = 10
        asked.maxBytes = 1_000
        var current = jobs(bound: 50)
        current.maxBytes = 5_000
        let (merged, refused) = asked.reconciled(with: current)
        #expect(Set(refused.map(\.field)) == ["max_msgs", "max_bytes", "max_age"])
        #expect(merged.maxMessages == -1 && merged.maxBytes == 5_000 && merged.maxAge == .seconds(86_400))
        // An age limit on a stream without one is a lowering too; dropping one is a raise.
        #expect(jobs(bound: 50, maxAge: .seconds(60)).reconciled(with: jobs(bound: 50, maxAge: nil)).refused.map(\.field) == ["max_age"])
        #expect(jobs(bound: 50, maxAge: nil).reconciled(with: jobs(bound: 50)).refused.isEmpty)
    }

    @Test func subjectsAreOnlyAddedAndFixedPropertiesStay() {
        var asked = jobs(bound: 50)
        asked.subjects = ["baton.jobs.>", "baton.more.>"]
        asked.replicas = 3
        var current = jobs(bound: 50)
        current.subjects = ["baton.jobs.>", "baton.old.>"]
        current.retention = .limits
        current.memoryStorage = true
        let (merged, refused) = asked.reconciled(with: current)
        #expect(merged.subjects == ["baton.jobs.>", "baton.more.>", "baton.old.>"])
        #expect(merged.retention == .limits && merged.memoryStorage && merged.replicas == 3)
        #expect(Set(refused.map(\.field)) == ["subjects", "retention", "storage"])
        var discardOld = jobs(bound: 50)
        discardOld.discardNew = false
        #expect(discardOld.reconciled(with: jobs(bound: 50)).spec.discardNew)
    }

    @Test func theSameConfigurationIsNotRewritten() {
        // As the server reports it back: the duplicate window capped by the age, unlimited as -1.
        var reported = jobs(bound: 50, maxAge: .seconds(60))
        reported.duplicateWindow = .seconds(60)
        reported.maxMessageSize = -1
        let asked = jobs(bound: 50, maxAge: .seconds(60))
        #expect(asked.reconciled(with: reported).spec.isEquivalent(to: reported))
    }
}

@Suite("nats-server versions and capabilities")
struct ServerVersionTests {
    @Test func parsesWhatServersSay() {
        #expect(NATSServerVersion("2.15.1") == NATSServerVersion(2, 15, 1))
        #expect(NATSServerVersion("nats-server: v2.9.10") == NATSServerVersion(2, 9, 10))
        #expect(NATSServerVersion("2.12.0-RC.2") == NATSServerVersion(2, 12, 0))
        #expect(NATSServerVersion("2.10") == NATSServerVersion(2, 10, 0))
        #expect(NATSServerVersion("garbage") == nil)
        #expect(NATSServerVersion(2, 9, 10) < NATSServerVersion(2, 10, 0))
    }

    @Test func capabilitiesByRelease() {
        let oldest = ServerCapabilities(ServerCapabilities.oldestSupported)
        let current = ServerCapabilities(NATSServerVersion(2, 15, 1))
        #expect(oldest.isSupported && current.isSupported && !ServerCapabilities(NATSServerVersion(2, 8, 4)).isSupported)
        #expect(!oldest.hasSyncInterval && current.hasSyncInterval)
        #expect(!oldest.keepsDeliveryCountOnNak && current.keepsDeliveryCountOnNak)
        #expect(!oldest.replicasAlwaysCatchUp && current.replicasAlwaysCatchUp)
        #expect(!ServerCapabilities(NATSServerVersion(2, 10, 13)).keepsDeliveryCountOnNak)
    }
}
