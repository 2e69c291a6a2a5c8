// This process's resource use, for the standard process_* metrics: memory from /proc/self/statm,
// CPU time from getrusage(2), descriptors by listing /proc/self/fd, the limit from getrlimit(2).
#if canImport(Glibc)
import Glibc
#endif

public struct ProcessFigures: Sendable, Equatable {
    public var residentBytes: Int64
    public var virtualBytes: Int64
    public var cpuSeconds: Double
    public var openDescriptors: Int
    public var descriptorLimit: Int64

    /// Reads the figures now (zero for any the kernel would not give).
    public static func read() -> ProcessFigures {
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        let statm = readProcFile("/proc/self/statm").split(separator: " ").compactMap { Int64($0) }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return ProcessFigures(
            residentBytes: statm.count > 1 ? statm[1] * page : 0, virtualBytes: statm.first.map { $0 * page } ?? 0,
            cpuSeconds: cpu, openDescriptors: max(0, ((try? FileIO.list("/proc/self/fd")) ?? []).count - 1),
            descriptorLimit: Int64(limit.rlim_cur))
    }

    /// A /proc file's text (their size reads as zero, so read until end of file).
    static func readProcFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = unsafe buffer.withUnsafeMutableBytes { unsafe Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes.filter { $0 != 0x0A }, as: UTF8.self)
    }
}
