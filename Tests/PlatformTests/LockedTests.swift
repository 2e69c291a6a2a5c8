// The project lock under contention: nothing lost, and (under `make tsan`) no race reported, which
// `Synchronization.Mutex` could not give (ThreadSanitizer does not see its futex).
import Testing
@testable import Platform

@Suite struct LockedTests {
    @Test func fourThreadsAppendWithoutLoss() {
        let shared = Locked<[Int]>([])
        let threads = (0..<4).map { index in
            PlatformThread.spawn(name: "locked-\(index)") {
                for value in 0..<20_000 { shared.withLock { $0.append(index * 1_000_000 + value) } }
            }
        }
        threads.forEach { $0.join() }
        let values = shared.withLock { $0 }
        #expect(values.count == 80_000)
        #expect(Set(values).count == 80_000)
        for index in 0..<4 {
            let mine = values.filter { $0 / 1_000_000 == index }
            #expect(mine == Array(index * 1_000_000..<index * 1_000_000 + 20_000), "each thread's appends in its own order")
        }
    }

    @Test func throwsThroughTheLockAndReleasesIt() {
        struct Refused: Error {}
        let shared = Locked(0)
        #expect(throws: Refused.self) { try shared.withLock { (_: inout Int) throws(Refused) in throw Refused() } }
        #expect(shared.withLock { value in value += 1; return value } == 1, "the lock was released by the throw")
    }
}
