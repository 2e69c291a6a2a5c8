// Clock reads for the I/O layers. Pure modules (Wire, Timing) never call these; time is passed in.
#if canImport(Glibc)
import Glibc
#endif

/// The host's clocks, in nanoseconds.
public enum HostClock {
    /// CLOCK_MONOTONIC: the hub timeline. It never steps (it may be slewed by NTP).
    public static func monotonicNanos() -> Int64 { read(CLOCK_MONOTONIC) }

    /// CLOCK_REALTIME: wall time, used only to label sessions (it can step).
    public static func realtimeNanos() -> Int64 { read(CLOCK_REALTIME) }

    /// CLOCK_BOOTTIME: like monotonic but counting suspend (the clock Android's elapsedRealtimeNanos uses).
    public static func boottimeNanos() -> Int64 { read(CLOCK_BOOTTIME) }

    static func read(_ clock: clockid_t) -> Int64 {
        var spec = timespec()
        let result = clock_gettime(clock, &spec)
        precondition(result == 0, "clock_gettime failed for clock \(clock)")
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    /// Sleeps the calling thread for `nanos` (I/O threads only; never on an async executor).
    public static func sleep(nanos: Int64) {
        guard nanos > 0 else { return }
        var request = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }
}
