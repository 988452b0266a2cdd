import BatonCore
import Foundation
import Testing

@Suite("job lifecycle") struct JobLifecycleTests {
    /// The whole lifecycle, spelled out: a change to `JobTransition` must change this table too.
    static let expected: [(JobTransition, from: [JobState?], to: JobState, by: [JobParty])] = [
        (.accept, [nil], .queued, [.gateway]),
        (.acceptRunning, [nil], .running, [.gateway]),
        (.start, [.queued, .running], .running, [.worker]),
        (.restore, [nil], .running, [.worker]),
        (.retry, [.queued, .running], .queued, [.worker]),
        (.succeed, [.queued, .running], .succeeded, [.worker, .gateway]),
        (.fail, [.queued, .running], .failed, [.worker, .gateway]),
        (.giveUp, [.queued, .running], .failed, [.deadLetter]),
        (.cancel, [.queued, .running], .cancelled, [.client]),
        (.expire, [.queued, .running], .expired, [.expiry]),
        (.notQueued, [.queued], .failed, [.gateway]),
        (.requeue, [.failed], .queued, [.gateway]),
    ]

    @Test func theTableIsTheLifecycle() {
        #expect(JobTransition.allCases.count == Self.expected.count)
        for (transition, from, to, parties) in Self.expected {
            #expect(transition.from == from, "\(transition)")
            #expect(transition.to == to, "\(transition)")
            #expect(transition.parties == parties, "\(transition)")
        }
    }

    @Test func everyAllowedChangeAndNoOther() throws {
        let states: [JobState?] = [nil] + JobState.allCases
        for transition in JobTransition.allCases {
            for state in states {
                for party in JobParty.allCases {
                    let allowed = transition.from.contains(state) && transition.parties.contains(party)
                    #expect(transition.allows(from: state, by: party) == allowed)
                    guard let state else {
                        let made = try? JobRecord(transition, by: party, id: JobID.make(), service: "s", lane: .durable)
                        #expect((made != nil) == allowed, "\(party) \(transition) from no record")
                        #expect(made.map { $0.state == transition.to } ?? true)
                        continue
                    }
                    var record = JobRecord(id: JobID.make(), service: "s", lane: .durable, state: state)
                    do {
                        try record.apply(transition, by: party)
                        #expect(allowed, "\(party) \(transition) from \(state) was written")
                        #expect(record.state == transition.to)
                    } catch {
                        #expect(!allowed, "\(party) \(transition) from \(state) was refused")
                        #expect(error == JobLifecycleViolation(transition: transition, from: state, party: party))
                        #expect(record.state == state)
                    }
                }
            }
        }
    }

    /// Once a job ended (its answer is its end), nothing changes its state again — except the
    /// gateway queueing again a job it could not queue (no answer exists for it).
    @Test func terminalStatesAreFinal() {
        for state in JobState.allCases where state.isTerminal {
            let leaving = JobTransition.allCases.filter { $0.from.contains(state) }
            #expect(leaving == (state == .failed ? [.requeue] : []), "\(state): \(leaving)")
        }
        #expect(JobTransition.allCases.filter(\.ends).allSatisfy { !$0.from.contains(where: { $0?.isTerminal == true }) })
        #expect(!JobTransition.notQueued.ends)
        #expect(JobTransition.ending(in: .cancelled, by: .client) == .cancel)
        #expect(JobTransition.ending(in: .failed, by: .deadLetter) == .giveUp)
        #expect(JobTransition.ending(in: .succeeded, by: .client) == nil)
    }

    @Test func everyStateIsReachable() {
        var reached: Set<JobState> = []
        var frontier: [JobState?] = [nil]
        while let state = frontier.popLast() {
            for transition in JobTransition.allCases where transition.from.contains(state) && !reached.contains(transition.to) {
                reached.insert(transition.to)
                frontier.append(transition.to)
            }
        }
        #expect(reached == Set(JobState.allCases))
    }

    /// docs/PROTOCOL.md shows the same table as the type.
    @Test func theProtocolDocumentShowsThisTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        #expect(document.contains(JobTransition.markdownTable), "docs/PROTOCOL.md §5.7 should read:\n\(JobTransition.markdownTable)")
    }
}
