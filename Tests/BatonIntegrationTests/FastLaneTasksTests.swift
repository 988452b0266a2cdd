import BatonNATS
import BatonTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import BatonWorker

/// Where `FastLaneTasks` starts a request's handler, without a server: a plain thread admits
/// requests, as nats.c's reading thread does.
@Suite struct FastLaneTasksTests {
    /// What the handlers saw: the thread each started on, and which were cancelled.
    final class Probe: Sendable {
        let started = Mutex<[String: pthread_t]>([:])
        let cancelled = Mutex<Set<String>>([])
        let ended = Mutex<Set<String>>([])
        /// "held" handlers sleep until this turns false.
        let holding = Mutex(true)
    }

    static func tasks(_ start: HandlerStart, probe: Probe, limit: Int = 4) -> FastLaneTasks {
        FastLaneTasks(limit: limit, bufferLimit: 16, start: start, logger: Logger(label: "test.fast-lane-tasks")) { request, cancel in
            let name = request.subject
            probe.started.withLock { $0[name] = pthread_self() }
            // "cancel-early": the job is cancelled before its handler first suspends.
            if name == "cancel-early" { cancel() }
            do {
                switch name {
                case "quick": break
                case "held": while probe.holding.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                case _ where name.hasPrefix("cancel"): try await Task.sleep(for: .seconds(30))
                default: try await Task.sleep(for: .milliseconds(50))
                }
            } catch {
                probe.cancelled.withLock { _ = $0.insert(name) }
            }
            probe.ended.withLock { _ = $0.insert(name) }
        }
    }

    /// Admits `names` from a thread of its own (not one of Swift's) and returns that thread.
    static func admit(_ names: [String], to tasks: FastLaneTasks) async -> pthread_t {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                for name in names { tasks.admit(NATSMessage(subject: name, replyTo: "_INBOX.test")) }
                continuation.resume(returning: pthread_self())
            }
            thread.start()
        }
    }

    @Test func anImmediateHandlerRunsOnTheDeliveringThreadUntilItSuspends() async throws {
        let probe = Probe()
        let tasks = Self.tasks(.immediately, probe: probe)
        let reader = await Self.admit(["quick", "sleepy"], to: tasks)
        // Both started on the admitting thread, before `admit` returned; "quick" also ended there.
        let started = probe.started.withLock { $0 }
        #expect(started.count == 2)
        #expect(started.values.allSatisfy { pthread_equal($0, reader) != 0 })
        #expect(probe.ended.withLock { $0.contains("quick") })
        tasks.close()
        await tasks.finished()
        #expect(probe.ended.withLock { $0 } == ["quick", "sleepy"])
        #expect(probe.cancelled.withLock { $0 }.isEmpty)
    }

    @Test func aHandlerInANewTaskRunsOnSwiftsExecutor() async throws {
        let probe = Probe()
        let tasks = Self.tasks(.inNewTask, probe: probe)
        let reader = await Self.admit(["quick"], to: tasks)
        tasks.close()
        await tasks.finished()
        let thread = try #require(probe.started.withLock { $0["quick"] })
        #expect(pthread_equal(thread, reader) == 0)
    }

    /// A cancel that comes while an immediate handler has not suspended yet (its task has no
    /// handle yet) reaches it once it has.
    @Test func aCancelBeforeTheFirstSuspensionIsKept() async throws {
        let probe = Probe()
        let tasks = Self.tasks(.immediately, probe: probe)
        _ = await Self.admit(["cancel-early"], to: tasks)
        try await waitUntil(timeout: .seconds(10)) { probe.ended.withLock { $0.contains("cancel-early") } }
        #expect(probe.cancelled.withLock { $0 } == ["cancel-early"])
        tasks.close()
        await tasks.finished()
    }

    /// Beyond the limit, requests wait and start in new tasks as others end (not nested in the
    /// ending one), and `cancelAll` reaches immediate ones too.
    @Test func immediateRequestsBeyondTheLimitWaitTheirTurn() async throws {
        let probe = Probe()
        let tasks = Self.tasks(.immediately, probe: probe, limit: 1)
        _ = await Self.admit(["held", "second", "third"], to: tasks)
        #expect(probe.started.withLock { Set($0.keys) } == ["held"])
        probe.holding.withLock { $0 = false }
        tasks.close()
        await tasks.finished()
        #expect(probe.ended.withLock { $0 } == ["held", "second", "third"])

        let stopping = Self.tasks(.immediately, probe: probe, limit: 2)
        _ = await Self.admit(["cancel-all"], to: stopping)
        stopping.cancelAll()
        stopping.close()
        await stopping.finished()
        #expect(probe.cancelled.withLock { $0.contains("cancel-all") })
    }
}
