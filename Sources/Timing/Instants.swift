// One type per clock, so a device timestamp can never be used where a hub instant is meant.
// All are signed 64-bit nanoseconds; arithmetic between two clocks goes through ClockMapping.

/// A duration or signed difference in nanoseconds.
public struct Nanoseconds: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: Int64

    public init(_ value: Int64) { self.value = value }

    public static func < (lhs: Nanoseconds, rhs: Nanoseconds) -> Bool { lhs.value < rhs.value }
    public static func + (lhs: Nanoseconds, rhs: Nanoseconds) -> Nanoseconds { Nanoseconds(lhs.value + rhs.value) }
    public static func - (lhs: Nanoseconds, rhs: Nanoseconds) -> Nanoseconds { Nanoseconds(lhs.value - rhs.value) }
    public static func milliseconds(_ count: Int64) -> Nanoseconds { Nanoseconds(count * 1_000_000) }
    public static func seconds(_ count: Int64) -> Nanoseconds { Nanoseconds(count * 1_000_000_000) }

    public var description: String { "\(value) ns" }
}

/// An instant on the hub timeline (the hub's CLOCK_MONOTONIC, which never steps).
public struct HubInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanos: Int64

    public init(nanos: Int64) { self.nanos = nanos }

    public static func < (lhs: HubInstant, rhs: HubInstant) -> Bool { lhs.nanos < rhs.nanos }
    public static func - (lhs: HubInstant, rhs: HubInstant) -> Nanoseconds { Nanoseconds(lhs.nanos - rhs.nanos) }
    public static func + (lhs: HubInstant, rhs: Nanoseconds) -> HubInstant { HubInstant(nanos: lhs.nanos + rhs.value) }

    public var description: String { "hub \(nanos) ns" }
}

/// An instant on one device's own clock, as the device reports it.
public struct DeviceInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanos: Int64

    public init(nanos: Int64) { self.nanos = nanos }

    public static func < (lhs: DeviceInstant, rhs: DeviceInstant) -> Bool { lhs.nanos < rhs.nanos }
    public static func - (lhs: DeviceInstant, rhs: DeviceInstant) -> Nanoseconds { Nanoseconds(lhs.nanos - rhs.nanos) }
    public static func + (lhs: DeviceInstant, rhs: Nanoseconds) -> DeviceInstant { DeviceInstant(nanos: lhs.nanos + rhs.value) }

    public var description: String { "device \(nanos) ns" }
}
