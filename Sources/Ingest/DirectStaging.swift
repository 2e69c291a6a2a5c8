// O_DIRECT writes for the storage stage, straight from the buffer pool.
//
// A buffered write to ext4 costs far more than its copy: page allocation, delayed allocation, quota,
// dirty accounting, and later the writeback that fdatasync runs (about 13 % of a core at 100 MB/s here,
// see docs/benchmarks.md). With O_DIRECT the kernel sends the user buffer straight to the device, but
// offsets, lengths and memory must be aligned to the block size, and the stream file's records are not.
//
// The network stage therefore receives each connection's records in the file's layout (NetworkStage.swift):
// record header gap, frame header, payload, record after record, starting at the file's end modulo
// 4 KiB in a 4 KiB-aligned chunk. So every pool address is congruent to its file offset modulo 4096, and
// a write covers whole blocks from `base`, the start of the block holding the file's end, to the block
// holding the end of its last record:
// - the bytes of that first block before the file's end are in the pool too: those of the record before
//   (whose chunk is still held), or, for a connection's first write, the file's own bytes, read when the
//   stream opened and copied into the pool in front of the first record;
// - the last block, which holds the end of the last record, cannot be written from the pool: the next
//   frame may be arriving in it. Its bytes are copied, zero-padded, into the stream's one-block buffer and
//   written as the last iovec; the next write writes that block again, from the pool, with more records.
// The only copy in user space is that last block: at most 4 KiB a write.
//
// Each write goes with O_DIRECT while the stream's batches are large (from `directWriteMin` new bytes
// on), and through the page cache once they are small (under `pageCacheBelow`), which gathers a slow
// stream's writes until the next fdatasync instead of sending a 4 KiB block to the device for each. The
// gap between the two thresholds keeps a stream from alternating, which would make the kernel write back
// or read back the shared partial block at each switch. Whole blocks either way, so the page cache never
// has to read a partial page from the device.
//
// The file therefore ends in up to one block of zeros after its last record while the stream is open
// (the last block's padding). The stage cuts that off when the stream drains (its connection ended;
// should that fail, the stream takes no more frames); after a crash, recovery's scan stops at the zeros
// (an invalid record header) and truncates there, as it does for any torn tail, saying the cut bytes
// were zeros.
//
// An O_DIRECT write is at most `writeBytesMax`; a record larger than that goes through the page cache
// (the same whole blocks). With one write in flight per stream, O_DIRECT waits for the device at each
// write: sending such frames with O_DIRECT took the data disk to 315-326 MB/s durable at 8 × 75 MB/s,
// against 457-479 through the page cache (docs/benchmarks.md).
//
// Not done: allocating blocks ahead (fallocate) so that writes land inside the file. On this kernel
// ext4 hands the O_DIRECT writes to io_uring's worker threads either way (about 316 of them a second
// at 8 × 12.5 MB/s, the same with and without), and three runs each showed no CPU difference.
// Where a filesystem refuses O_DIRECT (EINVAL at open, or on a write: alignment stricter than 4 KiB),
// the blocks are written through the page cache instead, the stream's later writes append its records
// exactly, and status says why.
import Platform
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How the write in flight was made, which decides how its result is checked.
enum WriteKind {
    /// The records exactly, at the file's end, gathered from the pool through the page cache (O_DIRECT
    /// off or refused).
    case gathered
    /// Whole blocks from the pool through the page cache.
    case blocksBuffered
    /// Whole blocks from the pool with O_DIRECT.
    case blocksDirect
}

/// One stream's O_DIRECT descriptor, page-cache descriptor and one-block buffer.
final class DirectStaging {
    /// The most bytes one O_DIRECT write covers; a record larger than this (with the bytes before it in
    /// its first block) is written through the page cache.
    static let writeBytesMax = 2 << 20
    /// A batch of at least this many new bytes goes with O_DIRECT (rewriting the partial block and
    /// padding adds at most 8 KiB to it: at most 1/8 more written than stored, about 1/16 on average).
    static let directWriteMin = 64 << 10
    /// A batch of fewer new bytes goes through the page cache (and so do the batches after it, up to
    /// one of `directWriteMin`).
    static let pageCacheBelow = 16 << 10

    /// O_RDWR | O_DIRECT.
    let fd: FileDescriptor
    /// O_WRONLY without O_APPEND: page-cache writes at explicit offsets, over the zeros after the end.
    let bufferedFD: FileDescriptor
    /// One block, 4 KiB-aligned: the file's bytes before its end when the stream opened, until the first
    /// write copies them into the pool; then each write's last block, zero-padded.
    let block: UnsafeMutableRawPointer
    /// How many of the file's bytes before its end wait in `block` for the first write.
    private(set) var prefixByteCount = 0
    /// False once a write was refused with EINVAL: the stream then writes its records exactly.
    var directAllowed = true
    /// Whether the stream's batches currently go with O_DIRECT (see `pageCacheBelow`).
    var writesDirect = true

    private init(fd: FileDescriptor, bufferedFD: FileDescriptor) {
        self.fd = fd
        self.bufferedFD = bufferedFD
        block = UnsafeMutableRawPointer.allocate(byteCount: FileIO.directBlockByteCount, alignment: FileIO.directBlockByteCount)
    }

    deinit {
        unsafe block.deallocate()
        try? fd.close()
        try? bufferedFD.close()
    }

    /// Opens `path` twice (O_DIRECT, and for page-cache writes) and reads the partial block before `fileEnd`.
    /// - Throws: EINVAL when the filesystem refuses O_DIRECT, or the open or read error.
    static func open(path: String, fileEnd: Int64) throws(Errno) -> DirectStaging {
        let direct = try FileIO.openDirect(path)
        let buffered: FileDescriptor
        do throws(Errno) { buffered = try FileIO.openForWriting(path) } catch {
            try? direct.close()
            throw error
        }
        let staging = DirectStaging(fd: direct, bufferedFD: buffered)
        let blockBytes = Int64(FileIO.directBlockByteCount)
        let base = fileEnd - fileEnd % blockBytes
        let lead = Int(fileEnd - base)
        if lead > 0 {
            let target = unsafe UnsafeMutableRawBufferPointer(start: staging.block, count: FileIO.directBlockByteCount)
            let got = try unsafe FileIO.read(direct, at: base, into: target)
            guard got >= lead else { throw Errno.ioError }
        }
        staging.prefixByteCount = lead
        return staging
    }

    /// Copies the file's bytes before the first record into the pool, in front of it (once).
    func placePrefix(before firstRecord: UnsafeMutableRawPointer) {
        guard prefixByteCount > 0 else { return }
        unsafe (firstRecord - prefixByteCount).copyMemory(from: block, byteCount: prefixByteCount)
        prefixByteCount = 0
    }
}

extension StorageStage {
    /// The O_DIRECT state for a newly opened stream, or nil for records appended through the page cache
    /// (O_DIRECT is off, or the filesystem refused it: said once, and shown in status).
    func makeDirectStaging(for writer: StreamWriter, fileEnd: Int64) -> DirectStaging? {
        guard engine.directIO, engine.directIOState.withLock({ $0 == nil }) else { return nil }
        do throws(Errno) {
            return try DirectStaging.open(path: writer.path, fileEnd: fileEnd)
        } catch {
            if error == .invalidArgument {
                refuseDirectIO("the filesystem of \(writer.path) refuses O_DIRECT")
            } else {
                engine.logger.error("\(name): O_DIRECT for \(writer.path) failed (\(error)); writing it through the page cache")
            }
            return nil
        }
    }

    func refuseDirectIO(_ reason: String) {
        engine.directIOState.withLock { $0 = $0 ?? reason }
        engine.logger.warning("\(name): \(reason); writing through the page cache")
    }

    /// Extends the write's vectors (the records, merged per chunk, from `vectors[0]` on) to whole
    /// blocks: back `lead` bytes (the file's end modulo 4 KiB) to the start of the block holding it (in
    /// the pool, see the top of the file), and forward to the end of the block holding the last
    /// record's end, whose bytes are copied into the stream's block buffer and zero-padded. Returns the
    /// vector count and the bytes they cover.
    func extendToBlocks(_ stream: StorageStream, _ direct: DirectStaging, lead: Int, vectorCount: Int, recordBytes: Int) -> (Int, Int) {
        let blockBytes = FileIO.directBlockByteCount
        let first = unsafe stream.vectors[0].iov_base!
        precondition(Int(bitPattern: first) % blockBytes == lead, "pool address not congruent to the file offset")
        unsafe direct.placePrefix(before: first)
        unsafe stream.vectors[0].iov_base = first - lead
        unsafe stream.vectors[0].iov_len += lead
        var count = vectorCount
        let last = unsafe stream.vectors[count - 1]
        let end = unsafe last.iov_base! + last.iov_len
        let partial = Int(bitPattern: end) % blockBytes
        if partial > 0 {
            unsafe direct.block.copyMemory(from: end - partial, byteCount: partial)
            unsafe (direct.block + partial).initializeMemory(as: UInt8.self, repeating: 0, count: blockBytes - partial)
            unsafe stream.vectors[count - 1].iov_len -= partial
            if unsafe stream.vectors[count - 1].iov_len == 0 { count -= 1 }
            unsafe stream.vectors[count] = iovec(iov_base: direct.block, iov_len: blockBytes)
            count += 1
        }
        return (count, (lead + recordBytes + blockBytes - 1) / blockBytes * blockBytes)
    }

    /// Writes the taken records as whole blocks from the pool: with O_DIRECT, or through the page cache
    /// while the stream's batches are small or for a record larger than `writeBytesMax`.
    func submitBlockWrite(_ stream: StorageStream, _ direct: DirectStaging, vectorCount: Int, recordBytes: Int) {
        let lead = Int(stream.fileEnd % Int64(FileIO.directBlockByteCount))
        let (count, bytes) = extendToBlocks(stream, direct, lead: lead, vectorCount: vectorCount, recordBytes: recordBytes)
        if recordBytes >= DirectStaging.directWriteMin {
            direct.writesDirect = true
        } else if recordBytes < DirectStaging.pageCacheBelow {
            direct.writesDirect = false
        }
        stream.inFlightWriteBytes = bytes
        let offset = stream.fileEnd - Int64(lead)
        guard direct.directAllowed, direct.writesDirect, lead + recordBytes <= DirectStaging.writeBytesMax else {
            stream.inFlightKind = .blocksBuffered
            issueWrite(stream, fd: direct.bufferedFD, vectorCount: count, offset: offset)
            return
        }
        stream.inFlightKind = .blocksDirect
        engine.statistics.directWrites.add(1, ordering: .relaxed)
        issueWrite(stream, fd: direct.fd, vectorCount: count, offset: offset)
    }

    /// An O_DIRECT write refused with EINVAL (the filesystem wants a stricter alignment): the same
    /// blocks, still in the pool and the block buffer, go through the page cache now; once that succeeds
    /// the stream drops O_DIRECT (`finishDirectWrite`) and later streams get none. Returns what that
    /// write returned, in the terms `writeCompleted` checks.
    func directWriteRefused(_ stream: StorageStream, _ direct: DirectStaging) -> Int32 {
        direct.directAllowed = false
        refuseDirectIO("O_DIRECT writes to \(stream.writer.path) are refused (EINVAL)")
        stream.inFlightKind = .blocksBuffered
        do throws(Errno) {
            let written = try unsafe FileIO.writeVector(
                direct.bufferedFD, stream.vectors, count: stream.inFlightVectorCount, at: stream.inFlightOffset)
            return Int32(clamping: written)
        } catch { return -error.rawValue }
    }

    /// After a successful write: a stream whose O_DIRECT write was refused cuts its padding and writes
    /// its records exactly from now on.
    func finishDirectWrite(_ stream: StorageStream, _ direct: DirectStaging) {
        guard !direct.directAllowed else { return }
        cutZeros(stream)
        stream.direct = nil
    }

    /// Cuts the zeros after the last record (the last block's padding). If that fails,
    /// the stream takes no more frames: a later page-cache append would land after the zeros.
    func cutZeros(_ stream: StorageStream) {
        do throws(Errno) { try FileIO.truncate(stream.fd, to: stream.fileEnd) } catch {
            stream.writer.recordFailure("cutting the zeros after the last record of \(stream.writer.path) failed: \(error)")
            engine.logger.error("\(name): cutting \(stream.writer.path) back to its last record failed: \(error)")
        }
    }
}
