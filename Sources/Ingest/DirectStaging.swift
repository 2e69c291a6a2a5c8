// O_DIRECT writes for the storage stage.
//
// A buffered write to ext4 costs far more than its copy: page allocation, delayed allocation, quota,
// dirty accounting, and later the writeback that fdatasync runs (about 13 % of a core at 100 MB/s here,
// see docs/benchmarks.md). With O_DIRECT the kernel sends the user buffer straight to the device, but
// offsets, lengths and memory must be aligned to the block size, and the stream file's records are not.
//
// So each stream keeps a staging window: a 4 KiB-aligned buffer that mirrors the file from `base`, the
// start of the block holding the end of the last whole record. The stage copies whole records into it
// after that partial block, zero-fills to the next block boundary, and writes the whole blocks at
// `base`. When the write completes, the partial last block moves to the buffer's start and is written
// again, with more records after it, by the next write. One copy, as the page cache would make, and
// none of the rest.
//
// Blocks are also allocated ahead in 16 MiB steps (fallocate), so that writes land inside the file:
// ext4 takes those without blocking, where an appending write goes to an io_uring worker thread.
// The file therefore reads as zeros after its last record while the stream is open (the partial
// block's padding and the space allocated ahead). The stage cuts that off when the stream drains (its
// connection ended); after a crash, recovery's scan stops at the zeros (an invalid record header) and
// truncates there, as it does for any torn tail.
import Platform
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One stream's O_DIRECT descriptor and staging window.
final class DirectStaging {
    /// The window: records larger than this (with the partial block) are written buffered instead.
    static let byteCount = 2 << 20

    let fd: FileDescriptor
    let buffer: UnsafeMutableRawPointer
    /// Blocks are allocated this far ahead of the writes, in steps of `allocationStep`.
    static let allocationStep: Int64 = 16 << 20
    /// The end of the space allocated ahead (0: none yet); allocation stops after its first failure.
    private(set) var allocatedEnd: Int64 = 0
    private var allocationFailed = false
    /// The file offset of `buffer[0]`, a multiple of the block size. `buffer[0..<(fileEnd - base)]`
    /// holds the file's bytes from `base` to the end of its last whole record.
    private(set) var base: Int64 = 0

    private init(fd: FileDescriptor) {
        self.fd = fd
        buffer = UnsafeMutableRawPointer.allocate(byteCount: DirectStaging.byteCount, alignment: FileIO.directBlockByteCount)
    }

    deinit {
        unsafe buffer.deallocate()
        try? fd.close()
    }

    /// Opens `path` with O_DIRECT and loads the partial block before `fileEnd`.
    /// - Throws: EINVAL when the filesystem refuses O_DIRECT, or the open or read error.
    static func open(path: String, fileEnd: Int64) throws(Errno) -> DirectStaging {
        let staging = DirectStaging(fd: try FileIO.openDirect(path))
        try staging.load(fileEnd: fileEnd)
        return staging
    }

    /// Reads the file's partial block before `fileEnd` into the buffer's start (at open, and after a
    /// record too large for the window was written buffered).
    func load(fileEnd: Int64) throws(Errno) {
        let block = Int64(FileIO.directBlockByteCount)
        base = fileEnd - fileEnd % block
        // The file was cut back to `fileEnd`: whatever was allocated ahead is gone.
        allocatedEnd = 0
        let tail = Int(fileEnd - base)
        guard tail > 0 else { return }
        let got = try unsafe FileIO.read(fd, at: base, into: UnsafeMutableRawBufferPointer(start: buffer, count: FileIO.directBlockByteCount))
        guard got >= tail else { throw Errno.ioError }
    }

    /// Allocates the next step of blocks once a write would reach past what is allocated, so that
    /// writes land inside the file and ext4 can take them without blocking (an appending O_DIRECT write
    /// cannot be issued without blocking, and io_uring hands it to a worker thread). The file then
    /// reads as zeros past its last record until the stream drains and is cut back. Without the space
    /// (ENOSPC) or the call (EOPNOTSUPP), writes simply append.
    func allocate(through end: Int64) {
        guard !allocationFailed, end > allocatedEnd else { return }
        let from = max(allocatedEnd, base)
        do throws(Errno) {
            try FileIO.preallocate(fd, at: from, count: DirectStaging.allocationStep)
            allocatedEnd = from + DirectStaging.allocationStep
        } catch {
            allocationFailed = true
        }
    }

    /// After a write that left the file's last whole record ending at `fileEnd`: keeps its partial
    /// block at the buffer's start.
    func advance(to fileEnd: Int64) {
        let block = Int64(FileIO.directBlockByteCount)
        let next = fileEnd - fileEnd % block
        let tail = Int(fileEnd - next)
        if next != base && tail > 0 { unsafe memmove(buffer, buffer + Int(next - base), tail) }
        base = next
    }
}

extension StorageStage {
    /// The staging for a newly opened stream, or nil for buffered writes (O_DIRECT is off, or the
    /// filesystem refused it: said once, and shown in status).
    func makeDirectStaging(for writer: StreamWriter, fileEnd: Int64) -> DirectStaging? {
        guard engine.directIO, engine.directIOState.withLock({ $0 == nil }) else { return nil }
        do throws(Errno) {
            return try DirectStaging.open(path: writer.path, fileEnd: fileEnd)
        } catch {
            if error == .invalidArgument {
                let reason = "the filesystem of \(writer.path) refuses O_DIRECT"
                engine.directIOState.withLock { $0 = reason }
                engine.logger.warning("ingest storage stage: \(reason); writing through the page cache")
            } else {
                engine.logger.error("ingest storage stage: O_DIRECT for \(writer.path) failed (\(error)); writing it through the page cache")
            }
            return nil
        }
    }

    /// Copies as many whole pending frames as fit into the stream's staging window and writes the
    /// blocks they cover with O_DIRECT. The frames' chunks go back to the network stage at once.
    /// Returns false, having done nothing, when the first pending frame does not fit the window.
    func submitDirectWrite(_ stream: StorageStream, _ direct: DirectStaging) -> Bool {
        let block = FileIO.directBlockByteCount
        let recordHeaderBytes = StreamFileFormat.recordHeaderByteCount
        let tail = Int(stream.fileEnd - direct.base)
        var filled = tail
        var frames = 0
        var payload: Int64 = 0
        var index = stream.pendingStart
        while index < stream.pendingEnd, frames < StorageStream.framesPerWriteMax {
            var last = index
            var recordBytes = recordHeaderBytes + Int(stream.pending[last].length)
            while stream.pending[last].flags & IngestEvent.frameEnd == 0 {
                last += 1
                recordBytes += Int(stream.pending[last].length)
            }
            guard filled + recordBytes <= DirectStaging.byteCount else { break }
            let first = stream.pending[index]
            unsafe StreamFileFormat.storeRecordHeader(
                hubReceiveNanos: first.hubReceiveNanos, frameCRC: first.frameCRC,
                into: UnsafeMutableRawBufferPointer(start: direct.buffer + filled, count: recordHeaderBytes))
            filled += recordHeaderBytes
            for segment in stream.pending[index...last] {
                let source = unsafe engine.pool.chunk(segment.chunk) + Int(segment.offset)
                unsafe (direct.buffer + filled).copyMemory(from: source, byteCount: Int(segment.length))
                filled += Int(segment.length)
                release(segment)
            }
            unsafe stream.stamps[frames] = first.hubReceiveNanos
            payload += Int64(first.payloadByteCount)
            frames += 1
            index = last + 1
        }
        guard frames > 0 else { return false }
        consumePending(stream, through: index)
        let padded = (filled + block - 1) / block * block
        unsafe (direct.buffer + filled).initializeMemory(as: UInt8.self, repeating: 0, count: padded - filled)
        stream.inFlightBytes = filled - tail
        stream.inFlightWriteBytes = padded
        stream.inFlightFrames = frames
        stream.inFlightPayload = payload
        stream.inFlightDirect = true
        direct.allocate(through: direct.base + Int64(padded))
        unsafe stream.vectors[0] = iovec(iov_base: direct.buffer, iov_len: padded)
        issueWrite(stream, fd: direct.fd, vectorCount: 1, offset: direct.base)
        return true
    }

    /// After a write: moves the window on, or reloads it after a buffered write (nil: give up O_DIRECT
    /// for this stream, whose file is then exactly its records again).
    func finishDirectWrite(_ stream: StorageStream, _ direct: DirectStaging) {
        if stream.inFlightDirect {
            direct.advance(to: stream.fileEnd)
            return
        }
        do throws(Errno) { try direct.load(fileEnd: stream.fileEnd) } catch {
            engine.logger.error("ingest storage stage: reloading the O_DIRECT window of \(stream.writer.path) failed (\(error))")
            stream.direct = nil
        }
    }
}
