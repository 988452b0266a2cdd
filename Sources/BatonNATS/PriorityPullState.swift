/// The bookkeeping of a `PriorityPuller`: which consumer to ask next, for how many messages, and
/// how much of the capacity is running, requested or free. Pure logic (no I/O), so the rule can
/// be tested step by step.
///
/// Levels are consumers by priority, 0 the highest. The rule:
///
/// - **Capacity.** `running + parked + requested ≤ capacity` at all times: an open pull request
///   reserves as many slots as it may still deliver. At most one request is open per level, so
///   every delivery and every status is attributed exactly.
/// - **Scan.** When capacity frees (coalesced: at once when nothing runs or nothing is requested,
///   else once a quarter of the capacity is free), the levels are asked one after the other with
///   no-wait pulls (`{"batch":free,"no_wait":true}`), each for all the free capacity, in priority
///   order, until the capacity is used. A level that has a request open is skipped (that request
///   takes its messages as they come).
/// - **Anti-starvation.** A level not asked in the last `starvationLimit` (3) scans jumps to the
///   front of the next scan (the one waiting longest; on a tie the higher priority); at most one
///   level jumps per scan. With every level backlogged and one slot, takes go
///   high, high, normal, low, high, high, normal, low…: high ½, normal ≥ ¼, low ≥ ¼.
/// - **Idle cover.** When a scan asked every level and capacity is left over (everything is
///   empty), each level without a request gets a long poll (`{"batch":n,"expires":5s}`), in
///   `coverOrder` (normal, high, low for three levels) while slots are free, so a new job of any
///   priority is delivered at once: batch `max(1, capacity/4)` for the first (normal: the
///   default priority, so sequential jobs cost one pull request per capacity/4 jobs, as before
///   priorities), 1 for the others. The rest of the capacity stays unrequested: a cover that
///   fills frees its level, which starts a scan that takes a burst with no-wait pulls for all the
///   free capacity (unless the last delivery said nothing is left behind it, `pending` 0: then
///   the level only gets its cover back). Spreading the whole capacity over long polls would
///   park it on idle levels until they expire while another level bursts; as it is, at most
///   capacity/4 − 1 slots stay parked on an idle normal while high or low bursts (≤ 5 s), and at
///   most capacity/4 normal jobs arriving at an idle worker may start before a high one that
///   arrives with them.
/// - **Fewer free slots than levels** (concurrency 1 or 2): the covers go to normal, then high;
///   the levels left without one are asked by the scan that follows the expiry of the covers,
///   which then use the short `partialWaitExpiry` (1 s), so on an idle worker a job of an
///   uncovered level (low; with concurrency 1 also high) waits up to ~1 s before it starts.
struct PriorityPullState {
    enum Mode: Equatable, Sendable {
        /// `{"batch":n,"no_wait":true}`: whatever is there now, then 404 (nothing) or 408 (fewer).
        case noWait
        /// `{"batch":n,"expires":e}`: waits for messages until it has `n` or `e` passes (408).
        case wait(expires: Duration)
    }

    /// A pull request to send.
    struct Pull: Equatable, Sendable {
        var id: UInt64
        var level: Int
        var batch: Int
        var mode: Mode
    }

    struct Request: Equatable {
        var id: UInt64
        var level: Int
        var batch: Int
        var remaining: Int
        var mode: Mode
        var deadline: ContinuousClock.Instant
    }

    private struct Scan {
        var order: [Int]
        var position = 0
        var asked: [Bool]
    }

    let capacity: Int
    let levels: Int
    /// Levels covered by an idle long poll first when slots are short.
    let coverOrder: [Int]
    /// A level not asked in this many scans goes first in the next one.
    var starvationLimit = 3
    /// Expiry of idle long polls when every level has one.
    var waitExpiry: Duration = .seconds(5)
    /// Expiry of idle long polls when some level has none (fewer free slots than levels).
    var partialWaitExpiry: Duration = .seconds(1)
    /// How long to wait for the answer to a no-wait pull before forgetting it (a lost reply).
    var noWaitTimeout: Duration = .seconds(5)
    /// Added to a long poll's expiry before it is forgotten locally (its 408 was lost).
    var grace: Duration = .seconds(2)
    /// How long a level is left alone after the server refused a pull (409, no responders).
    var backoff: Duration = .seconds(1)

    private(set) var running = 0
    /// Messages received beyond the capacity (a request forgotten locally that delivered after
    /// all): they wait for a slot instead of running.
    private(set) var parked = 0
    private(set) var open: [Request?]
    /// Per level: scans since it was last asked.
    private(set) var scansSinceAsked: [Int]
    private var backoffUntil: [ContinuousClock.Instant?]
    /// Levels whose last delivery said nothing was left behind it (`pending` 0): the scan that
    /// follows at once need not ask them again (their cover takes what comes). Cleared after
    /// every decision, so a later scan asks again.
    private var knownEmpty: [Bool]
    private var scan: Scan?
    private var nextID: UInt64 = 1

    init(capacity: Int, levels: Int, coverOrder: [Int]? = nil) {
        precondition(capacity > 0 && levels > 0)
        self.capacity = capacity
        self.levels = levels
        self.coverOrder = coverOrder ?? Self.defaultCoverOrder(levels: levels)
        open = Array(repeating: nil, count: levels)
        scansSinceAsked = Array(repeating: 0, count: levels)
        backoffUntil = Array(repeating: nil, count: levels)
        knownEmpty = Array(repeating: false, count: levels)
    }

    /// Normal, high, low for three levels (the default priority first: it is what most jobs
    /// use, so a worker with one free slot keeps its latency); otherwise by priority.
    static func defaultCoverOrder(levels: Int) -> [Int] {
        levels == 3 ? [1, 0, 2] : Array(0..<levels)
    }

    /// How long until the last open long poll has surely ended at the server (its expiry, and
    /// `grace` for the server having received it later than it was sent). A message a draining
    /// worker hands back is delayed that long: handed back at once, it can be delivered to one
    /// of the same open polls again, and again — each bounce counts as a delivery, and jobs
    /// bounced between a stopping worker and the server reached the next worker looking as if
    /// five workers had crashed on them (dead-lettered, never run).
    func handBackDelay(now: ContinuousClock.Instant) -> Duration {
        open.reduce(.zero) { longest, request in
            guard let request, case .wait = request.mode else { return longest }
            return max(longest, request.deadline - now)
        }
    }

    var requested: Int { open.reduce(0) { $0 + ($1?.remaining ?? 0) } }
    var free: Int { capacity - running - parked - requested }
    var openRequests: Int { open.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
    var isScanning: Bool { scan != nil }

    // MARK: - Events

    /// A message from `level` (nil: not one of ours) arrived; `pending` is what its consumer
    /// still holds behind it. Returns true to run it now, false when it must wait for a slot
    /// (`handlerFinished` hands it one).
    mutating func received(level: Int?, pending: UInt64? = nil) -> Bool {
        if let level, level >= 0, level < levels, pending == 0 { knownEmpty[level] = true }
        if let level, level >= 0, level < levels, var request = open[level] {
            request.remaining -= 1
            open[level] = request.remaining > 0 ? request : nil  // filled: no status follows
            running += 1
            return true
        }
        if free > 0 {
            running += 1
            return true
        }
        parked += 1
        return false
    }

    /// A handler returned. Returns true when a parked message should start now.
    mutating func handlerFinished() -> Bool {
        running -= 1
        guard parked > 0 else { return false }
        parked -= 1
        running += 1
        return true
    }

    /// A handler returned while no parked message may start (draining).
    mutating func handlerEnded() {
        running -= 1
    }

    /// A parked message was handed back instead of run.
    mutating func parkedHandedBack() {
        parked -= 1
    }

    /// A status message ended request `id`: 404 (no messages), 408 (expired or fewer than asked),
    /// 409 (refused: too many waiting requests, consumer deleted…), 503 (no responders: no such
    /// consumer). 100 (idle heartbeat) ends nothing. Returns the level it ended, if it was open.
    @discardableResult
    mutating func ended(id: UInt64, status: Int, now: ContinuousClock.Instant) -> Int? {
        guard status != 100, let level = open.firstIndex(where: { $0?.id == id }) else { return nil }
        open[level] = nil
        if status == 409 || status == 503 { backoffUntil[level] = now.advanced(by: backoff) }
        return level
    }

    /// Sending request `id` failed: forget it, and leave its level alone for a while.
    mutating func sendFailed(id: UInt64, now: ContinuousClock.Instant) {
        guard let level = open.firstIndex(where: { $0?.id == id }) else { return }
        open[level] = nil
        backoffUntil[level] = now.advanced(by: backoff)
    }

    /// Forgets requests whose answer should have come long ago. Returns how many.
    @discardableResult
    mutating func expire(now: ContinuousClock.Instant) -> Int {
        var count = 0
        for level in 0..<levels {
            if let request = open[level], request.deadline < now {
                open[level] = nil
                count += 1
            }
            if let until = backoffUntil[level], until <= now { backoffUntil[level] = nil }
        }
        return count
    }

    // MARK: - Decisions

    /// The pull requests to send now (call after every event).
    mutating func nextPulls(now: ContinuousClock.Instant) -> [Pull] {
        defer { for level in 0..<levels { knownEmpty[level] = false } }
        if scan == nil {
            guard shouldStartScan(now: now) else { return [] }
            scan = Scan(order: scanOrder(), asked: Array(repeating: false, count: levels))
        }
        // One no-wait pull at a time: the next level is asked once this one has answered.
        if open.contains(where: { $0?.mode == .noWait }) { return [] }
        var current = scan!
        defer { if scan != nil { scan = current } }
        while current.position < current.order.count {
            guard free > 0 else {
                finishScan(current)
                return []
            }
            let level = current.order[current.position]
            current.position += 1
            if open[level] != nil || isBackedOff(level, now: now) { continue }
            current.asked[level] = true
            // Just emptied by the delivery that started this scan: straight to its cover.
            if knownEmpty[level] { continue }
            return [send(level: level, batch: free, mode: .noWait, now: now)]
        }
        // Every level without a request was asked and capacity is left: all are empty.
        let pulls = cover(now: now, asked: &current.asked)
        finishScan(current)
        return pulls
    }

    /// The order of the next scan: by priority, except that the level not asked for the most
    /// scans (at least `starvationLimit`) goes first.
    func scanOrder() -> [Int] {
        var order = Array(0..<levels)
        var starved: Int? = nil
        for level in 0..<levels where open[level] == nil && scansSinceAsked[level] >= starvationLimit {
            if starved == nil || scansSinceAsked[level] > scansSinceAsked[starved!] { starved = level }
        }
        if let starved {
            order.remove(at: starved)
            order.insert(starved, at: 0)
        }
        return order
    }

    private func shouldStartScan(now: ContinuousClock.Instant) -> Bool {
        let free = self.free
        guard free > 0 else { return false }
        guard (0..<levels).contains(where: { open[$0] == nil && !isBackedOff($0, now: now) }) else { return false }
        // Nothing that will free capacity later is under way: ask now, even for one slot.
        if running == 0 || openRequests == 0 { return true }
        return free >= max(1, capacity / 4)
    }

    private func isBackedOff(_ level: Int, now: ContinuousClock.Instant) -> Bool {
        if let until = backoffUntil[level] { return until > now }
        return false
    }

    private mutating func cover(now: ContinuousClock.Instant, asked: inout [Bool]) -> [Pull] {
        let uncovered = coverOrder.filter { open[$0] == nil && !isBackedOff($0, now: now) }
        guard !uncovered.isEmpty else { return [] }
        let everyLevel = free >= uncovered.count && uncovered.count + openRequests == levels
        let expires = everyLevel ? waitExpiry : partialWaitExpiry
        var pulls: [Pull] = []
        for level in uncovered where free > 0 {
            asked[level] = true
            // The first level of `coverOrder` may take a few jobs in a row without a new request.
            let others = uncovered.count - pulls.count - 1
            let batch = level == coverOrder.first ? max(1, min(capacity / 4, free - others)) : 1
            pulls.append(send(level: level, batch: batch, mode: .wait(expires: expires), now: now))
        }
        return pulls
    }

    private mutating func finishScan(_ scan: Scan) {
        for level in 0..<levels {
            if scan.asked[level] || open[level] != nil {
                scansSinceAsked[level] = 0
            } else {
                scansSinceAsked[level] += 1
            }
        }
        self.scan = nil
    }

    private mutating func send(level: Int, batch: Int, mode: Mode, now: ContinuousClock.Instant) -> Pull {
        let id = nextID
        nextID += 1
        let deadline: ContinuousClock.Instant
        switch mode {
        case .noWait: deadline = now.advanced(by: noWaitTimeout)
        case .wait(let expires): deadline = now.advanced(by: expires + grace)
        }
        open[level] = Request(id: id, level: level, batch: batch, remaining: batch, mode: mode, deadline: deadline)
        return Pull(id: id, level: level, batch: batch, mode: mode)
    }
}
