// The linear relation between one device clock and the hub timeline:
//   device − hub = offsetNanos + skew × (hub − reference)
// `skew` is dimensionless (1e-6 = 1 ppm: the device clock gains 1 µs per second of hub time).

/// A fitted mapping between a device clock and the hub timeline, with its uncertainty.
public struct ClockMapping: Sendable, Equatable {
    /// The hub instant at which `offsetNanos` holds.
    public var reference: HubInstant
    /// Device minus hub at `reference`, in nanoseconds.
    public var offsetNanos: Double
    /// Rate difference of the device clock relative to the hub (device seconds per hub second − 1).
    public var skew: Double
    /// Half-width of the interval that holds the true offset, in nanoseconds.
    public var uncertaintyNanos: Double

    public init(reference: HubInstant, offsetNanos: Double, skew: Double, uncertaintyNanos: Double) {
        self.reference = reference
        self.offsetNanos = offsetNanos
        self.skew = skew
        self.uncertaintyNanos = uncertaintyNanos
    }

    /// The identity mapping with unknown (infinite) uncertainty: used before any sample.
    public static let unknown = ClockMapping(reference: HubInstant(nanos: 0), offsetNanos: 0, skew: 0, uncertaintyNanos: .infinity)

    /// Skew in parts per million.
    public var skewPPM: Double { skew * 1e6 }

    /// Device minus hub at hub instant `hub`.
    public func offsetNanos(at hub: HubInstant) -> Double {
        offsetNanos + skew * Double(hub.nanos - reference.nanos)
    }

    /// The device-clock reading at hub instant `hub`.
    public func deviceInstant(at hub: HubInstant) -> DeviceInstant {
        DeviceInstant(nanos: hub.nanos + Int64(offsetNanos(at: hub).rounded()))
    }

    /// The hub instant at which the device clock reads `device`.
    public func hubInstant(at device: DeviceInstant) -> HubInstant {
        // device = hub + o + s(hub − r)  ⇒  hub = (device − o + s·r) / (1 + s), computed relative to r for precision.
        let relative = (Double(device.nanos - reference.nanos) - offsetNanos) / (1 + skew)
        return HubInstant(nanos: reference.nanos + Int64(relative.rounded()))
    }
}
