// The C allocator's knobs for a long-running service. glibc gives each thread that allocates an arena
// of its own (up to 8 per core) and keeps freed memory in them, so a service whose threads come and go
// (one per data connection) and that builds large transient objects (a session's report) shows a
// resident size that creeps up although nothing leaks. Fewer arenas and a trim after each session
// keep the resident size flat; `lockstep-bench soak` measures it.
import CNetTimestamp

public enum Memory {
    /// Limits the allocator to `count` arenas (call before any thread starts).
    public static func limitArenas(_ count: Int32) {
        _ = mallopt(M_ARENA_MAX, count)
    }

    /// Bytes of the C heap in use by live allocations (mallinfo2: small blocks in use + mmapped blocks):
    /// unlike the resident size, free memory the allocator keeps does not count.
    public static var liveHeapBytes: Int {
        let info = mallinfo2()
        return Int(info.uordblks + info.hblkhd)
    }

    /// Returns free heap memory to the system (after a burst of transient allocations).
    public static func trim() {
        _ = malloc_trim(0)
    }
}
