// A bounded single-producer/single-consumer ring of plain values (descriptors, never references):
// the only channel between the ingest engine's network and storage threads.
//
// Lamport's queue with cached indices: the producer owns `tail` and a cached copy of `head`, the
// consumer owns `head` and a cached copy of `tail`; each re-reads the other's index only when its
// cached copy says the ring is full (or empty). A release store of an index publishes the slot it
// covers; the acquire load on the other side sees it. Indices grow without wrapping in practice
// (2^63 pushes), and slots are addressed by index & mask.
import Synchronization

public final class SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    public let capacity: Int
    private let mask: Int
    private let slots: UnsafeMutablePointer<Element>
    // Each index on its own cache line, away from the other side's (no false sharing).
    private let head = Atomic<Int>(0)
    private let padding0: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    private let tail = Atomic<Int>(0)
    private let padding1: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Producer-only: the consumer's head as last seen.
    private var cachedHead = 0
    private let padding2: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Consumer-only: the producer's tail as last seen.
    private var cachedTail = 0

    /// A ring holding up to `capacity` values (rounded up to a power of two).
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= 1 << 24, "ring capacity must be 1...2^24")
        var size = 1
        while size < capacity { size <<= 1 }
        self.capacity = size
        mask = size - 1
        slots = unsafe UnsafeMutablePointer<Element>.allocate(capacity: size)
    }

    deinit { unsafe slots.deallocate() }

    /// Producer: appends `value`; false when the ring is full.
    public func push(_ value: Element) -> Bool {
        let index = tail.load(ordering: .relaxed)
        if index - cachedHead == capacity {
            cachedHead = head.load(ordering: .acquiring)
            if index - cachedHead == capacity { return false }
        }
        unsafe (slots + (index & mask)).initialize(to: value)
        tail.store(index + 1, ordering: .releasing)
        return true
    }

    /// Producer: how many more values fit now (the consumer can only make it more).
    public var freeCount: Int {
        cachedHead = head.load(ordering: .acquiring)
        return capacity - (tail.load(ordering: .relaxed) - cachedHead)
    }

    /// Consumer: removes the oldest value; nil when the ring is empty.
    public func pop() -> Element? {
        let index = head.load(ordering: .relaxed)
        if index == cachedTail {
            cachedTail = tail.load(ordering: .acquiring)
            if index == cachedTail { return nil }
        }
        let value = unsafe (slots + (index & mask)).pointee
        head.store(index + 1, ordering: .releasing)
        return value
    }

    /// Either side: values in the ring right now (a snapshot, for metrics).
    public var count: Int { tail.load(ordering: .acquiring) - head.load(ordering: .acquiring) }
}
