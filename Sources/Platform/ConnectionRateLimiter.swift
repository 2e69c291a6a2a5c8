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

// A per-address cap on open connections: one host may hold at most `perAddressMax` connections on a
// listener at once, so a single host cannot take the whole listener's connection budget (it may still
// open new ones at the rate limit, each closed at once while it is over the cap).
public final class ConnectionsPerAddress: Sendable {
    public let perAddressMax: Int
    private let open = Locked<[String: Int]>([:])
    private let refused = Locked(0)

    /// - Parameter perAddressMax: open connections one address may hold; 0 disables the cap.
    public init(perAddressMax: Int) {
        self.perAddressMax = perAddressMax
    }

    /// Connections refused so far for being over the cap.
    public var refusedCount: Int { refused.withLock { $0 } }

    /// Open connections from `address` now.
    public func count(_ address: String) -> Int { open.withLock { $0[address] ?? 0 } }

    /// Counts a new connection from `address` if it is under the cap; a `true` must be paired with
    /// one `closed(address)`.
    public func opened(_ address: String) -> Bool {
        let admitted = open.withLock { table -> Bool in
            let current = table[address] ?? 0
            guard perAddressMax == 0 || current < perAddressMax else { return false }
            table[address] = current + 1
            return true
        }
        if !admitted { refused.withLock { $0 += 1 } }
        return admitted
    }

    /// Forgets one connection from `address` that `opened` admitted.
    public func closed(_ address: String) {
        open.withLock { table in
            guard let current = table[address] else { return }
            table[address] = current > 1 ? current - 1 : nil
        }
    }
}
