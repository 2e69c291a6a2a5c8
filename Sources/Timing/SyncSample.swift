// One four-timestamp exchange and what follows from it (the NTP/PTP "on-wire" arithmetic).
//
//   delay  = (t4 − t1) − (t3 − t2)          the round trip minus the device's turnaround
//   offset = ((t2 − t1) + (t3 − t4)) / 2    device clock minus hub clock at the exchange midpoint
//
// The offset is exact when the two path delays are equal; otherwise its error is at most delay/2,
// which is why the estimator prefers samples of small delay (Mills, RFC 5905 §8; IEEE 1588 §11.3).

/// A completed exchange: t1 hub send, t2 device receive, t3 device send, t4 hub receive.
public struct SyncSample: Sendable, Equatable {
    public var t1: HubInstant
    public var t2: DeviceInstant
    public var t3: DeviceInstant
    public var t4: HubInstant

    public init(t1: HubInstant, t2: DeviceInstant, t3: DeviceInstant, t4: HubInstant) {
        self.t1 = t1
        self.t2 = t2
        self.t3 = t3
        self.t4 = t4
    }

    /// Round-trip network delay, excluding the device's turnaround time.
    public var delay: Nanoseconds { (t4 - t1) - (t3 - t2) }

    /// Device clock minus hub clock, in nanoseconds, assuming symmetric paths (kept as Double for the fit).
    public var offsetNanos: Double {
        (Double(t2.nanos - t1.nanos) + Double(t3.nanos - t4.nanos)) / 2
    }

    /// The hub instant the offset refers to: the midpoint of t1 and t4.
    public var midpoint: HubInstant { HubInstant(nanos: t1.nanos + (t4.nanos - t1.nanos) / 2) }

    /// Whether the stamps are causally possible: t1 ≤ t4, t2 ≤ t3 and a non-negative delay.
    public var isConsistent: Bool { t1 <= t4 && t2 <= t3 && delay.value >= 0 }
}
