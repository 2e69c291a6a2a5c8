// Files for session folders: append-only stream files, durable syncs, atomic replacement.
// Wraps open(2), write(2), pread(2), fdatasync(2), fsync(2), rename(2), mkdir(2), ftruncate(2).
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

public enum FileIO {
    /// Writes all of `bytes` at the current offset.
    public static func writeAll(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let remaining = unsafe UnsafeRawBufferPointer(rebasing: bytes[written...])
            written += try valueOrErrno { unsafe write(fd.rawValue, remaining.baseAddress, remaining.count) }
        }
    }

    /// Writes all of `bytes` at `offset` (pwrite, repeated after short writes).
    public static func writeAll(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let remaining = unsafe UnsafeRawBufferPointer(rebasing: bytes[written...])
            written += try valueOrErrno { unsafe pwrite(fd.rawValue, remaining.baseAddress, remaining.count, off_t(offset) + off_t(written)) }
        }
    }

    /// Writes all of `bytes` at the current offset.
    public static func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8]) throws(Errno) {
        try errnoTyped { try unsafe bytes.withUnsafeBytes { raw in try unsafe writeAll(fd, raw) } }
    }

    /// One gathering write at `offset` (pwritev); returns the byte count, which may be short.
    public static func writeVector(_ fd: FileDescriptor, _ vectors: UnsafePointer<iovec>, count: Int, at offset: Int64) throws(Errno) -> Int {
        try valueOrErrno { unsafe pwritev(fd.rawValue, vectors, Int32(count), off_t(offset)) }
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns the count (0 at end of file).
    public static func read(_ fd: FileDescriptor, at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try valueOrErrno { unsafe pread(fd.rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// Flushes file data (and the metadata needed to read it) to stable storage.
    public static func dataSync(_ fd: FileDescriptor) throws(Errno) {
        _ = try valueOrErrno { fdatasync(fd.rawValue) }
    }

    /// Flushes a directory so that entries created or renamed in it survive power loss.
    public static func syncDirectory(_ path: String) throws(Errno) {
        let fd = try errnoTyped { try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec]) }
        defer { try? fd.close() }
        _ = try valueOrErrno { fsync(fd.rawValue) }
    }

    /// Creates `path` and its parents (mode 0750); existing directories are fine.
    public static func makeDirectories(_ path: String) throws(Errno) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o750) == -1 {
                let code = errno
                guard code == EEXIST else { throw Errno(rawValue: code) }
            }
        }
    }

    /// Creates one directory (mode 0750); fails with EEXIST if it exists, so two callers never share it.
    public static func makeDirectoryExclusive(_ path: String) throws(Errno) {
        _ = try valueOrErrno { mkdir(path, 0o750) }
    }

    /// Opens (creating) `path` and takes an exclusive flock on it without waiting; keep the descriptor
    /// open to hold the lock. - Throws: EWOULDBLOCK when another process holds it.
    public static func lockExclusive(_ path: String) throws(Errno) -> FileDescriptor {
        let fd = try errnoTyped {
            try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .closeOnExec], permissions: [.ownerReadWrite])
        }
        do throws(Errno) {
            _ = try valueOrErrno { flock(fd.rawValue, LOCK_EX | LOCK_NB) }
        } catch {
            try? fd.close()
            throw error
        }
        return fd
    }

    /// Writes `bytes` to `path` atomically: a temporary file, fdatasync, rename, directory fsync.
    public static func replaceAtomically(_ path: String, with bytes: [UInt8]) throws(Errno) {
        let temporary = path + ".tmp"
        let fd = try errnoTyped {
            try FileDescriptor.open(
                FilePath(temporary), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead])
        }
        do throws(Errno) {
            try writeAll(fd, bytes)
            try dataSync(fd)
            try errnoTyped { try fd.close() }
        } catch {
            try? fd.close()
            unlink(temporary)  // a full disk must not keep the partial copy
            throw error
        }
        _ = try valueOrErrno { rename(temporary, path) }
        try syncDirectory(parent(of: path))
    }

    /// Opens (creating if needed) a file for appending.
    public static func openAppend(_ path: String) throws(Errno) -> FileDescriptor {
        try errnoTyped {
            try FileDescriptor.open(
                FilePath(path), .writeOnly, options: [.create, .append, .closeOnExec], permissions: [.ownerReadWrite, .groupRead])
        }
    }

    /// The block size O_DIRECT transfers are aligned to here (offsets, lengths and memory): 4096 covers
    /// devices with 512-byte and 4 KiB logical blocks.
    public static let directBlockByteCount = 4096

    /// Opens an existing file for reading and writing with O_DIRECT (transfers bypass the page cache
    /// and must be aligned to `directBlockByteCount`). Throws EINVAL where the filesystem refuses it.
    public static func openDirect(_ path: String) throws(Errno) -> FileDescriptor {
        #if arch(x86_64)
        let direct: Int32 = 0o40000
        #elseif arch(arm64)
        let direct: Int32 = 0o200000
        #else
        #error("O_DIRECT's value for this architecture")
        #endif
        let raw = try valueOrErrno { open(path, O_RDWR | O_CLOEXEC | direct) }
        return FileDescriptor(rawValue: raw)
    }

    /// Opens an existing file for writing at explicit offsets (pwrite), without O_APPEND.
    public static func openForWriting(_ path: String) throws(Errno) -> FileDescriptor {
        try errnoTyped { try FileDescriptor.open(FilePath(path), .writeOnly, options: [.closeOnExec]) }
    }

    /// Truncates a file to `length` bytes.
    public static func truncate(_ fd: FileDescriptor, to length: Int64) throws(Errno) {
        _ = try valueOrErrno { ftruncate(fd.rawValue, off_t(length)) }
    }

    /// The size of an open file in bytes.
    public static func size(_ fd: FileDescriptor) throws(Errno) -> Int64 {
        var info = stat()
        _ = try valueOrErrno { fstat(fd.rawValue, &info) }
        return Int64(info.st_size)
    }

    /// The size of the file at `path` in bytes.
    public static func size(path: String) throws(Errno) -> Int64 {
        var info = stat()
        _ = try valueOrErrno { stat(path, &info) }
        return Int64(info.st_size)
    }

    /// Creates `path` with `byteCount` bytes of blocks allocated (posix_fallocate); removed again on failure.
    public static func allocate(_ path: String, byteCount: Int64) throws(Errno) {
        let fd = try errnoTyped {
            try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .closeOnExec], permissions: [.ownerReadWrite])
        }
        let result = posix_fallocate(fd.rawValue, 0, off_t(byteCount))
        try? fd.close()
        guard result == 0 else {
            unlink(path)
            throw Errno(rawValue: result)
        }
    }

    /// Removes a file (unlink).
    public static func remove(_ path: String) throws(Errno) {
        _ = try valueOrErrno { unlink(path) }
    }

    /// Whether `path` exists.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The entries of a directory (without "." and ".."), sorted.
    public static func list(_ path: String) throws(Errno) -> [String] {
        guard let dir = opendir(path) else { throw Errno(rawValue: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = unsafe withUnsafeBytes(of: entry.pointee.d_name) { raw in
                unsafe String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Reads a whole small file.
    public static func readAll(_ path: String, byteCountMax: Int = 64 << 20) throws(Errno) -> [UInt8] {
        let fd = try errnoTyped { try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) }
        defer { try? fd.close() }
        let size = try size(fd)
        guard size <= byteCountMax else { throw Errno.fileTooLarge }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var filled = 0
        while filled < bytes.count {
            let count = try errnoTyped {
                try unsafe bytes.withUnsafeMutableBytes { raw in
                    try unsafe read(fd, at: Int64(filled), into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
                }
            }
            if count == 0 { break }
            filled += count
        }
        return Array(bytes[..<filled])
    }

    /// Space on the file system holding `path` (statvfs): what an unprivileged writer may still use.
    public static func space(_ path: String) throws(Errno) -> (availableBytes: Int64, totalBytes: Int64) {
        var figures = statvfs()
        _ = try valueOrErrno { statvfs(path, &figures) }
        return (Int64(figures.f_bavail) * Int64(figures.f_frsize), Int64(figures.f_blocks) * Int64(figures.f_frsize))
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
