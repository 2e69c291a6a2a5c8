// The ingest engine's receive memory: one page-aligned allocation made at startup and cut into
// equal chunks. The kernel receives straight into a chunk, frames are checked in place, and the
// storage stage writes them from the same bytes; a chunk goes back to the pool when every frame in it
// is written. Which chunks are free is tracked by the network thread alone (the storage thread
// hands chunks back through a ring), so the pool itself has no locks and no atomics.

public final class BufferPool: @unchecked Sendable {
    public let chunkByteCount: Int
    public let chunkCount: Int
    private let base: UnsafeMutableRawPointer

    /// Allocates `chunkCount` chunks of `chunkByteCount` bytes (a multiple of the 4 KiB page).
    public init(chunkByteCount: Int, chunkCount: Int) {
        precondition(chunkByteCount > 0 && chunkByteCount % 4096 == 0, "chunk size must be a positive multiple of 4096")
        precondition(chunkCount > 0 && chunkCount <= Int(Int32.max), "chunk count out of range")
        self.chunkByteCount = chunkByteCount
        self.chunkCount = chunkCount
        base = unsafe UnsafeMutableRawPointer.allocate(byteCount: chunkByteCount * chunkCount, alignment: 4096)
    }

    deinit { unsafe base.deallocate() }

    public var totalByteCount: Int { chunkByteCount * chunkCount }

    /// The first byte of chunk `index`.
    public func chunk(_ index: Int32) -> UnsafeMutableRawPointer {
        precondition(index >= 0 && Int(index) < chunkCount, "chunk index out of range")
        return unsafe base + Int(index) * chunkByteCount
    }
}

/// What flows between the network and storage threads: small plain values, never references.
public struct IngestEvent: BitwiseCopyable, Sendable {
    public enum Kind: UInt8, Sendable, BitwiseCopyable {
        /// Network → storage: slot `slot` now carries the stream registered for it.
        case open
        /// Network → storage: one contiguous piece of a checked frame in a chunk.
        case segment
        /// Network → storage: the connection on `slot` has ended; finish its writes.
        case end
        /// Storage → network: one segment in `chunk` is written (or discarded).
        case released
        /// Storage → network: every write of `slot` is done; the slot may be reused.
        case drained
        /// Storage → network: writing `slot`'s file failed; end its connection.
        case failed
    }

    public static let frameStart: UInt8 = 1
    public static let frameEnd: UInt8 = 2

    public var kind: Kind
    public var flags: UInt8 = 0
    public var slot: Int32
    public var chunk: Int32 = -1
    public var offset: Int32 = 0
    public var length: Int32 = 0
    public var payloadByteCount: Int32 = 0
    public var sequence: UInt64 = 0
    public var hubReceiveNanos: Int64 = 0
    public var frameCRC: UInt32 = 0

    public init(kind: Kind, slot: Int32) {
        self.kind = kind
        self.slot = slot
    }
}
