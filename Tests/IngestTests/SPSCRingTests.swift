// The SPSC ring: a model test against a plain array queue, and a two-thread stress test that passes
// pool chunks through the ring and back the way the ingest engine does (run also under
// ThreadSanitizer: `swift test -c release --sanitize=thread --filter SPSCRing`).
import Platform
import Synchronization
import Testing
@testable import Ingest

struct Tagged: BitwiseCopyable, Equatable {
    var sequence: UInt64
    var check: UInt64

    init(_ sequence: UInt64) {
        self.sequence = sequence
        check = sequence &* 0x9E37_79B9_7F4A_7C15
    }
}

@Suite struct SPSCRingTests {
    @Test func capacityRoundsUpToAPowerOfTwo() {
        #expect(SPSCRing<Int>(capacity: 1).capacity == 1)
        #expect(SPSCRing<Int>(capacity: 5).capacity == 8)
        #expect(SPSCRing<Int>(capacity: 1024).capacity == 1024)
    }

    /// Random pushes and pops against an array queue: same values, same order, same full/empty answers.
    @Test func behavesLikeABoundedQueue() {
        let ring = SPSCRing<Tagged>(capacity: 16)
        var model: [Tagged] = []
        var generator = SystemRandomNumberGenerator()
        var next: UInt64 = 0
        for _ in 0..<100_000 {
            if Bool.random(using: &generator) {
                let pushed = ring.push(Tagged(next))
                #expect(pushed == (model.count < 16))
                if pushed {
                    model.append(Tagged(next))
                    next += 1
                }
            } else {
                let popped = ring.pop()
                #expect(popped == model.first)
                if !model.isEmpty { model.removeFirst() }
            }
            #expect(ring.count == model.count)
        }
        #expect(ring.freeCount == 16 - model.count)
    }

    /// A producer thread and a consumer thread: every tagged value arrives once, in order, intact.
    @Test func twoThreadsLoseAndDuplicateNothing() {
        let ring = SPSCRing<Tagged>(capacity: 64)
        let total: UInt64 = 500_000
        let problems = Atomic<Int>(0)
        let consumer = PlatformThread.spawn(name: "ring-consumer") {
            var expected: UInt64 = 0
            while expected < total {
                guard let value = ring.pop() else { continue }
                if value != Tagged(expected) { problems.add(1, ordering: .relaxed) }
                expected += 1
            }
        }
        var sequence: UInt64 = 0
        while sequence < total {
            if ring.push(Tagged(sequence)) { sequence += 1 }
        }
        consumer.join()
        #expect(problems.load(ordering: .relaxed) == 0)
        #expect(ring.pop() == nil)
    }

    /// Chunks go out through one ring and come back through another, as between the engine's stages:
    /// the consumer checks each chunk's contents, and at the end the pool is whole again.
    @Test func poolChunksMakeTheRoundTripAndAllComeBack() {
        let pool = BufferPool(chunkByteCount: 4096, chunkCount: 32)
        let outbound = SPSCRing<IngestEvent>(capacity: 8)
        let inbound = SPSCRing<IngestEvent>(capacity: 8)
        let rounds = 200_000
        let problems = Atomic<Int>(0)
        let storage = PlatformThread.spawn(name: "ring-storage") {
            var seen = 0
            while seen < rounds {
                guard let event = outbound.pop() else { continue }
                let stamp = pool.chunk(event.chunk).load(as: UInt64.self)
                if stamp != event.sequence { problems.add(1, ordering: .relaxed) }
                var back = IngestEvent(kind: .released, slot: 0)
                back.chunk = event.chunk
                while !inbound.push(back) {}
                seen += 1
            }
        }
        var free = Array(Int32(0)..<32)
        var sent = 0
        var outstanding = Set<Int32>()
        while sent < rounds || !outstanding.isEmpty {
            while let back = inbound.pop() {
                if outstanding.remove(back.chunk) == nil { problems.add(1, ordering: .relaxed) }
                free.append(back.chunk)
            }
            guard sent < rounds, let chunk = free.popLast() else { continue }
            pool.chunk(chunk).storeBytes(of: UInt64(sent), as: UInt64.self)
            var event = IngestEvent(kind: .segment, slot: 0)
            event.chunk = chunk
            event.sequence = UInt64(sent)
            if outbound.push(event) {
                outstanding.insert(chunk)
                sent += 1
            } else {
                free.append(chunk)
            }
        }
        storage.join()
        #expect(problems.load(ordering: .relaxed) == 0)
        #expect(Set(free) == Set(Int32(0)..<32), "every chunk is back in the pool")
    }
}
