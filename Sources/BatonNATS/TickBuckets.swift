/// Items filed by the sweep tick their time falls in, so that a periodic sweep visits only the
/// ticks that came due since the last one, not every pending item: the timing wheel under
/// `ReplyInbox`'s timeouts and `TimerWheel`'s timers. Not synchronised: its owner's lock is.
struct TickBuckets<Item> {
    let resolution: Duration
    private let epoch = ContinuousClock.now
    private var buckets: [Int64: [Item]] = [:]
    /// Every tick up to this one has been taken.
    private var swept: Int64 = 0

    init(resolution: Duration) { self.resolution = resolution }

    var isEmpty: Bool { buckets.isEmpty }
    var count: Int { buckets.values.reduce(0) { $0 + $1.count } }

    /// Files `item` under the tick `due` falls in (rounded up: taken once `due` has passed),
    /// or the next tick when that one was taken already.
    mutating func add(_ item: Item, due: ContinuousClock.Instant) {
        buckets[max(tick(due, roundingUp: true), swept + 1), default: []].append(item)
    }

    /// Files `items` under the next tick to be taken.
    mutating func addToNextTick(_ items: [Item]) {
        guard !items.isEmpty else { return }
        buckets[swept + 1, default: []].append(contentsOf: items)
    }

    /// Takes the items of every tick that is over at `now`, each once.
    mutating func takeDue(now: ContinuousClock.Instant) -> [Item] {
        let through = tick(now, roundingUp: false)
        guard through > swept else { return [] }
        var due: [Item] = []
        if through - swept <= Int64(buckets.count) {
            for tick in (swept + 1)...through {
                if let items = buckets.removeValue(forKey: tick) { due += items }
            }
        } else {
            for tick in buckets.keys where tick <= through { due += buckets.removeValue(forKey: tick)! }
        }
        swept = through
        return due
    }

    mutating func removeAll() { buckets.removeAll() }

    private func tick(_ instant: ContinuousClock.Instant, roundingUp: Bool) -> Int64 {
        let ticks = (instant - epoch) / resolution
        return Int64(roundingUp ? ticks.rounded(.up) : ticks.rounded(.down))
    }
}
