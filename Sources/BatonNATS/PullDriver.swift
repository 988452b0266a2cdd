import Logging
import NIOCore
import Synchronization

/// One `PriorityPuller.run`: its `PriorityPullState` under a lock, driven where the events
/// happen — a pulled message or a pull's status on nats.c's reading thread, a handler's end
/// on the thread that ran it, the expiry tick in `run`'s own task.
///
/// Each event decides under the lock and acts after it (starts a handler's task, sends pull
/// requests, hands a message back). The pulled job's task is made on the reading thread, and a
/// handler's end sends the pulls it frees: no loop task in between, whose wake-ups (one for the
/// message, one for the handler's end) were a thread hand-off each per job.
///
/// The handlers run in unstructured tasks, kept by id until they end, so that `cancel()`
/// cancels the running ones (a stopping worker hands their jobs back) and `run` returns only
/// once every one has ended.
final class PullDriver: Sendable {
    private struct State {
        var pull: PriorityPullState
        /// Delivered beyond the capacity: they wait for a slot.
        var waiting: [JetStreamMessage] = []
        var running: [UInt64: Task<Void, Never>] = [:]
        var nextTask: UInt64 = 0
        /// Cancelled, or the subscription ended: no more pulls, no new handlers.
        var stopped = false
        /// Awaits the end (`untilDone`).
        var done: CheckedContinuation<Void, Never>?
        var isDone = false
    }

    private let state: Mutex<State>
    private let connection: NATSConnection
    private let stream: String
    private let consumers: [String]
    private let inbox: String
    private let levelOf: [Substring: Int]
    private let logger: Logger
    private let draining: @Sendable () -> Bool
    private let handler: @Sendable (JetStreamMessage) async -> Void

    init(
        state: PriorityPullState, connection: NATSConnection, stream: String, consumers: [String], inbox: String, logger: Logger,
        draining: @escaping @Sendable () -> Bool, handler: @escaping @Sendable (JetStreamMessage) async -> Void
    ) {
        self.state = Mutex(State(pull: state))
        self.connection = connection
        self.stream = stream
        self.consumers = consumers
        self.inbox = inbox
        self.levelOf = Dictionary(uniqueKeysWithValues: consumers.enumerated().map { (Substring($0.element), $0.offset) })
        self.logger = logger
        self.draining = draining
        self.handler = handler
    }

    /// What an event leaves to do once the lock is released.
    private struct Actions {
        var pulls: [PriorityPullState.Pull] = []
        /// Handed back (`-NAK`) with this delay: a draining worker's late deliveries.
        var handBack: [(JetStreamMessage, Duration)] = []
        var refused: (level: Int, status: Int, reason: String)?
        var resume: CheckedContinuation<Void, Never>?
    }

    // MARK: - Events

    /// The first pulls (call once, before any event).
    func start() {
        let pulls = state.withLock { $0.pull.nextPulls(now: .now) }
        send(pulls)
    }

    /// A message of the pull inbox: a pulled job or a pull's status (reading thread).
    func receive(_ message: NATSMessage) {
        let draining = self.draining()
        let actions = state.withLock { state -> Actions in
            var actions = Actions()
            let now = ContinuousClock.now
            if let status = message.status {
                let id = message.subject.split(separator: ".").last.flatMap { UInt64($0) }
                if let id, let level = state.pull.ended(id: id, status: status, now: now), status == 409 || status == 503, !draining {
                    actions.refused = (level, status, message.statusDescription ?? "")
                }
            } else if let reply = message.replyTo, let ack = AckSubject(reply) {
                let job = JetStreamMessage(message, ack: ack, connection: connection)
                if draining || state.stopped {
                    // No new work: hand it back once the open long polls have surely ended.
                    actions.handBack.append((job, state.stopped ? .zero : state.pull.handBackDelay(now: now)))
                } else if state.pull.received(level: levelOf[ack.consumer], pending: job.pending) {
                    launch(job, in: &state)
                } else {
                    state.waiting.append(job)
                }
            }
            decide(&state, draining: draining, now: now, into: &actions)
            return actions
        }
        act(actions)
    }

    /// A handler returned (the thread that ran it).
    private func finished(_ id: UInt64) {
        let draining = self.draining()
        let actions = state.withLock { state -> Actions in
            var actions = Actions()
            state.running.removeValue(forKey: id)
            if draining || state.stopped {
                state.pull.handlerEnded()  // the parked ones go back (`decide`), none starts
            } else if state.pull.handlerFinished() {
                launch(state.waiting.removeFirst(), in: &state)
            }
            decide(&state, draining: draining, now: .now, into: &actions)
            return actions
        }
        act(actions)
    }

    /// Forgets pulls whose answer never came; every half second (`run`'s task).
    func tick() {
        let draining = self.draining()
        let actions = state.withLock { state -> Actions in
            var actions = Actions()
            let now = ContinuousClock.now
            if state.pull.expire(now: now) > 0 { logger.debug("pull request unanswered; forgotten") }
            decide(&state, draining: draining, now: now, into: &actions)
            return actions
        }
        act(actions)
    }

    /// Stops: no more pulls, parked and late messages handed back at once, and with
    /// `cancellingHandlers` the running handlers cancelled (a stopping worker hands their jobs
    /// back); `untilDone` returns once every handler has ended.
    func stop(cancellingHandlers: Bool) {
        let (tasks, actions) = state.withLock { state -> ([Task<Void, Never>], Actions) in
            state.stopped = true
            var actions = Actions()
            decide(&state, draining: true, now: .now, into: &actions)
            return (cancellingHandlers ? Array(state.running.values) : [], actions)
        }
        for task in tasks { task.cancel() }
        act(actions)
    }

    /// Returns once the driver is done: stopped (or drained) with no handler running.
    func untilDone() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.isDone { return true }
                state.done = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    // MARK: - Decisions

    /// Starts a handler's task for `job` (its slot is counted already).
    private func launch(_ job: JetStreamMessage, in state: inout State) {
        let id = state.nextTask
        state.nextTask &+= 1
        let handler = self.handler
        // Made under the lock: its end takes the lock, so it cannot be removed before it is in.
        // Detached: a task made in a handler's end would inherit that job's task-locals.
        state.running[id] = Task.detached {
            await handler(job)
            self.finished(id)
        }
    }

    /// After every event: the pulls to send, the parked messages to hand back, and whether the
    /// driver is done. Draining (or stopped), it sends no pulls and is done once nothing runs
    /// and no pull request is open (a stopped one does not wait for the open requests).
    private func decide(_ state: inout State, draining: Bool, now: ContinuousClock.Instant, into actions: inout Actions) {
        if draining || state.stopped {
            let delay = state.stopped ? .zero : state.pull.handBackDelay(now: now)
            for job in state.waiting {
                state.pull.parkedHandedBack()
                actions.handBack.append((job, delay))
            }
            state.waiting.removeAll()
            let settled = state.pull.running == 0 && state.running.isEmpty && (state.stopped || state.pull.openRequests == 0)
            if settled, !state.isDone {
                state.isDone = true
                actions.resume = state.done
                state.done = nil
            }
            return
        }
        actions.pulls = state.pull.nextPulls(now: now)
    }

    private func act(_ actions: Actions) {
        if let refused = actions.refused {
            logger.warning("pull request refused", metadata: [
                "consumer": "\(consumers[refused.level])", "status": "\(refused.status)", "reason": "\(refused.reason)",
            ])
        }
        for (job, delay) in actions.handBack { try? job.nak(delay: delay) }
        send(actions.pulls)
        actions.resume?.resume()
    }

    private func send(_ pulls: [PriorityPullState.Pull]) {
        for pull in pulls {
            let body: String
            switch pull.mode {
            case .noWait: body = "{\"batch\":\(pull.batch),\"no_wait\":true}"
            case .wait(let expires): body = "{\"batch\":\(pull.batch),\"expires\":\(expires.nanoseconds)}"
            }
            do {
                try connection.publish(
                    ByteBuffer(string: body), to: "$JS.API.CONSUMER.MSG.NEXT.\(stream).\(consumers[pull.level])", replyTo: "\(inbox).\(pull.id)")
            } catch {
                logger.debug("pull request not sent", metadata: ["consumer": "\(consumers[pull.level])", "error": "\(error)"])
                state.withLock { $0.pull.sendFailed(id: pull.id, now: .now) }
            }
        }
    }
}
