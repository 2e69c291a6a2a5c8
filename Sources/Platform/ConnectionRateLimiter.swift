// A per-address limit on new connections: a token bucket per IPv4 address (refilled at `ratePerSecond`,
// holding at most `burst`). A host that opens connections faster is refused until its bucket refills;
// other hosts are unaffected. The table is bounded: past `addressesMax` entries the least recently
// seen address is forgotten (it starts again with a full bucket, which costs an attacker nothing it
// did not already have).
public final class ConnectionRateLimiter: Sendable {
    public let ratePerSecond: Double
    public let burst: Double
    public let addressesMax: Int

    struct Bucket {
        var tokens: Double
        var updatedNanos: Int64
    }

    private let table = Locked<[String: Bucket]>([:])
    private let refused = Locked(0)

    /// - Parameter ratePerSecond: sustained connections per second per address; 0 disables the limit.
    public init(ratePerSecond: Double, burst: Double? = nil, addressesMax: Int = 4096) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst ?? max(1, ratePerSecond * 2)
        self.addressesMax = addressesMax
    }

    /// Connections refused so far.
    public var refusedCount: Int { refused.withLock { $0 } }

    /// Whether a new connection from `address` may proceed now (and counts it).
    public func admit(_ address: String, now: Int64 = HostClock.monotonicNanos()) -> Bool {
        guard ratePerSecond > 0 else { return true }
        let admitted = table.withLock { table -> Bool in
            var bucket = table[address] ?? Bucket(tokens: burst, updatedNanos: now)
            bucket.tokens = min(burst, bucket.tokens + Double(max(0, now - bucket.updatedNanos)) / 1e9 * ratePerSecond)
            bucket.updatedNanos = now
            let ok = bucket.tokens >= 1
            if ok { bucket.tokens -= 1 }
            if table[address] == nil, table.count >= addressesMax,
                let oldest = table.min(by: { $0.value.updatedNanos < $1.value.updatedNanos })?.key {
                table.removeValue(forKey: oldest)
            }
            table[address] = bucket
            return ok
        }
        if !admitted { refused.withLock { $0 += 1 } }
        return admitted
    }
}
