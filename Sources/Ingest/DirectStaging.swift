// O_DIRECT writes for the storage stage.
//
// A buffered write to ext4 costs far more than its copy: page allocation, delayed allocation, quota,
// dirty accounting, and later the writeback that fdatasync runs (about 13 % of a core at 100 MB/s here,
// see docs/benchmarks.md). With O_DIRECT the kernel sends the user buffer straight to the device, but
// offsets, lengths and memory must be aligned to the block size, and the stream file's records are not.
//
// So each stream keeps a staging window: a 4 KiB-aligned buffer that mirrors the file from `base`, the
// start of the block holding the end of the last whole record. The stage copies whole records into it
// after that partial block and then either
// writes the whole blocks they cover at `base`, zero-filled to the last block's end (the partial block
// is written again, with more records after it, by the next write):
// - with O_DIRECT while the stream's batches are large (from `directWriteMin` new bytes on), or
// - through the page cache once they are small (under `pageCacheBelow`), which gathers a slow stream's
//   writes until the next fdatasync instead of sending a 4 KiB block to the device for each. The gap
//   between the two thresholds keeps a stream from alternating, which would make the kernel write back
//   or read back the shared partial block at each switch. Whole blocks, so the page cache never has to
//   read a partial page from the device.
// When the write completes, the partial last block moves to the buffer's start. One copy, as the page
// cache would make, and none of the rest.
//
// The file therefore ends in up to one block of zeros after its last record while the stream is open
// (the partial block's padding). The stage cuts that off when the stream drains (its connection
// ended; should that fail, the stream takes no more frames); after a crash, recovery's scan stops at
// the zeros (an invalid record header) and truncates there, as it does for any torn tail, saying the
// cut bytes were zeros.
//
// Not done: allocating blocks ahead (fallocate) so that writes land inside the file. On this kernel
// ext4 hands the O_DIRECT writes to io_uring's worker threads either way (about 316 of them a second
// at 8 × 12.5 MB/s, the same with and without), and three runs each showed no CPU difference.
//
// Records larger than the window go through the page cache, gathered from the pool, at the file's end.
// A 16 MiB window, which sent such frames with O_DIRECT too, was measured and not kept: with one write
// in flight per stream, O_DIRECT waits for the device at each write, and at 8 × 75 MB/s the data disk
// took 315-326 MB/s durable that way against 457-479 through the page cache (docs/benchmarks.md).
// Where a filesystem refuses O_DIRECT (EINVAL at open, or on a write: alignment stricter than 4 KiB),
// the window's bytes are written through the page cache instead, and status says why.
import Platform
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How the write in flight was made, which decides how the window follows it.
enum WriteKind {
    /// Gathered from the pool (no window, or a record larger than the window).
    case gathered
    /// The window's new bytes through the page cache.
    case windowBuffered
    /// The window's whole blocks with O_DIRECT.
    case windowDirect
}

/// One stream's O_DIRECT descriptor, page-cache descriptor and staging window.
final class DirectStaging {
    /// The window: records larger than this (with the partial block) are written gathered instead.
    static let byteCount = 2 << 20
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
    let buffer: UnsafeMutableRawPointer
    /// The file offset of `buffer[0]`, a multiple of the block size. `buffer[0..<(fileEnd - base)]`
    /// holds the file's bytes from `base` to the end of its last whole record.
    private(set) var base: Int64 = 0
    /// False once a write was refused with EINVAL: the stream then drops its window.
    var directAllowed = true
    /// Whether the stream's batches currently go with O_DIRECT (see `pageCacheBelow`).
    var writesDirect = true

    private init(fd: FileDescriptor, bufferedFD: FileDescriptor) {
        self.fd = fd
        self.bufferedFD = bufferedFD
        buffer = UnsafeMutableRawPointer.allocate(byteCount: DirectStaging.byteCount, alignment: FileIO.directBlockByteCount)
    }

    deinit {
        unsafe buffer.deallocate()
        try? fd.close()
        try? bufferedFD.close()
    }

    /// Opens `path` twice (O_DIRECT, and for page-cache writes) and loads the partial block before `fileEnd`.
    /// - Throws: EINVAL when the filesystem refuses O_DIRECT, or the open or read error.
    static func open(path: String, fileEnd: Int64) throws(Errno) -> DirectStaging {
        let direct = try FileIO.openDirect(path)
        let buffered: FileDescriptor
        do throws(Errno) { buffered = try FileIO.openForWriting(path) } catch {
            try? direct.close()
            throw error
        }
        let staging = DirectStaging(fd: direct, bufferedFD: buffered)
        try staging.load(fileEnd: fileEnd)
        return staging
    }

    /// Reads the file's partial block before `fileEnd` into the buffer's start.
    func load(fileEnd: Int64) throws(Errno) {
        let block = Int64(FileIO.directBlockByteCount)
        base = fileEnd - fileEnd % block
        let tail = Int(fileEnd - base)
        guard tail > 0 else { return }
        let got = try unsafe FileIO.read(fd, at: base, into: UnsafeMutableRawBufferPointer(start: buffer, count: FileIO.directBlockByteCount))
        guard got >= tail else { throw Errno.ioError }
    }

    /// After a write from the window that left the file's last whole record ending at `fileEnd`: keeps
    /// its partial block at the buffer's start.
    func advance(to fileEnd: Int64) {
        let block = Int64(FileIO.directBlockByteCount)
        let next = fileEnd - fileEnd % block
        let tail = Int(fileEnd - next)
        if next != base && tail > 0 { unsafe memmove(buffer, buffer + Int(next - base), tail) }
        base = next
    }

    /// After a gathered write of `vectors` that ended the file at `fileEnd`: takes the partial block's
    /// bytes from the end of what was written. False when the write was shorter than that block part.
    func keepTail(fileEnd: Int64, vectors: UnsafePointer<iovec>, count: Int) -> Bool {
        let block = Int64(FileIO.directBlockByteCount)
        base = fileEnd - fileEnd % block
        var missing = Int(fileEnd - base)
        var index = count - 1
        while missing > 0 && index >= 0 {
            let vector = unsafe vectors[index]
            let take = min(missing, vector.iov_len)
            missing -= take
            unsafe (buffer + missing).copyMemory(from: vector.iov_base! + (vector.iov_len - take), byteCount: take)
            index -= 1
        }
        return missing == 0
    }
}

extension StorageStage {
    /// The window for a newly opened stream, or nil for gathered page-cache writes (O_DIRECT is off, or
    /// the filesystem refused it: said once, and shown in status).
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

    /// Copies as many whole pending frames as fit into the stream's window and writes the window's
    /// whole blocks (with O_DIRECT, or through the page cache while the stream's batches are small).
    /// The frames' chunks go back to the network stage at once. Returns false, having done nothing,
    /// when the first pending frame does not fit the window.
    func submitWindowWrite(_ stream: StorageStream, _ direct: DirectStaging) -> Bool {
        let recordHeaderBytes = StreamFileFormat.recordHeaderByteCount
        let tail = Int(stream.fileEnd - direct.base)
        var filled = tail
        takeFrames(stream) { _, first, segments in
            let recordBytes = segments.reduce(recordHeaderBytes) { $0 + Int($1.length) }
            guard filled + recordBytes <= DirectStaging.byteCount else { return false }
            unsafe StreamFileFormat.storeRecordHeader(
                hubReceiveNanos: first.hubReceiveNanos, frameCRC: first.frameCRC,
                into: UnsafeMutableRawBufferPointer(start: direct.buffer + filled, count: recordHeaderBytes))
            filled += recordHeaderBytes
            for segment in segments {
                let source = unsafe engine.pool.chunk(segment.chunk) + Int(segment.offset)
                unsafe (direct.buffer + filled).copyMemory(from: source, byteCount: Int(segment.length))
                filled += Int(segment.length)
                release(segment)
            }
            return true
        }
        guard stream.inFlightFrames > 0 else { return false }
        let fresh = filled - tail
        stream.inFlightBytes = fresh
        if fresh >= DirectStaging.directWriteMin {
            direct.writesDirect = true
        } else if fresh < DirectStaging.pageCacheBelow {
            direct.writesDirect = false
        }
        let block = FileIO.directBlockByteCount
        let padded = (filled + block - 1) / block * block
        unsafe (direct.buffer + filled).initializeMemory(as: UInt8.self, repeating: 0, count: padded - filled)
        stream.inFlightWriteBytes = padded
        unsafe stream.vectors[0] = iovec(iov_base: direct.buffer, iov_len: padded)
        guard direct.directAllowed, direct.writesDirect else {
            stream.inFlightKind = .windowBuffered
            issueWrite(stream, fd: direct.bufferedFD, vectorCount: 1, offset: direct.base)
            return true
        }
        stream.inFlightKind = .windowDirect
        engine.statistics.directWrites.add(1, ordering: .relaxed)
        issueWrite(stream, fd: direct.fd, vectorCount: 1, offset: direct.base)
        return true
    }

    /// An O_DIRECT write refused with EINVAL (the filesystem wants a stricter alignment): the same
    /// blocks, still in the window, go through the page cache now; once that succeeds the stream drops
    /// its window (`finishDirectWrite`) and later streams get none. Returns what that write returned,
    /// in the terms `writeCompleted` checks.
    func directWriteRefused(_ stream: StorageStream, _ direct: DirectStaging) -> Int32 {
        direct.directAllowed = false
        refuseDirectIO("O_DIRECT writes to \(stream.writer.path) are refused (EINVAL)")
        stream.inFlightKind = .windowBuffered
        let bytes = unsafe UnsafeRawBufferPointer(start: direct.buffer, count: stream.inFlightWriteBytes)
        do throws(Errno) {
            try unsafe FileIO.writeAll(direct.bufferedFD, bytes, at: direct.base)
            return Int32(stream.inFlightWriteBytes)
        } catch { return -error.rawValue }
    }

    /// After a successful write: moves the window on, or rebuilds its partial block after a gathered
    /// write (nil: no window any more for this stream, whose writes then gather through the page cache).
    func finishDirectWrite(_ stream: StorageStream, _ direct: DirectStaging) {
        if !direct.directAllowed {
            cutZeros(stream)
            stream.direct = nil
            return
        }
        if stream.inFlightKind != .gathered {
            direct.advance(to: stream.fileEnd)
            return
        }
        if unsafe direct.keepTail(fileEnd: stream.fileEnd, vectors: stream.vectors, count: stream.inFlightVectorCount) { return }
        do throws(Errno) { try direct.load(fileEnd: stream.fileEnd) } catch {
            engine.logger.error("\(name): reloading the O_DIRECT window of \(stream.writer.path) failed (\(error))")
            cutZeros(stream)
            stream.direct = nil
        }
    }

    /// Cuts the zeros after the last record (the window's padding). If that fails,
    /// the stream takes no more frames: a later page-cache append would land after the zeros.
    func cutZeros(_ stream: StorageStream) {
        do throws(Errno) { try FileIO.truncate(stream.fd, to: stream.fileEnd) } catch {
            stream.writer.recordFailure("cutting the zeros after the last record of \(stream.writer.path) failed: \(error)")
            engine.logger.error("\(name): cutting \(stream.writer.path) back to its last record failed: \(error)")
        }
    }
}
