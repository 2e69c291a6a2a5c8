// Reads a stream file back and checks every record: header, record checksum, frame header, frame
// checksum, sequence continuity. Used by `lockstep verify`, crash recovery and the tests.
import Platform
import SystemPackage
import Wire

/// What a scan of one stream file found.
public struct StreamFileScan: Sendable, Equatable {
    public var path: String
    /// The stream's JSON description from the file header.
    public var description: JSONValue
    public var frameCount: Int64 = 0
    public var payloadByteCount: Int64 = 0
    /// The sequence the next appended frame must carry.
    public var nextSequence: UInt64 = 0
    public var firstCaptureNanos: Int64?
    public var lastCaptureNanos: Int64?
    public var firstHubReceiveNanos: Int64?
    public var lastHubReceiveNanos: Int64?
    /// Bytes up to the end of the last valid record.
    public var validByteCount: Int64 = 0
    public var fileByteCount: Int64 = 0
    /// Why the scan stopped before the end of the file, if it did.
    public var problem: String?

    /// True when every byte of the file belongs to a valid record.
    public var isClean: Bool { problem == nil && validByteCount == fileByteCount }
}

/// One valid record, handed to the visitor of `StreamFileReader.scan`.
public struct StreamRecord {
    public var header: FrameHeader
    public var hubReceiveNanos: Int64
    /// Where the record starts in the stream file.
    public var fileOffset: Int64
    public var payload: [UInt8]
}

public enum StreamFileReader {
    public static let readChunkByteCount = 1 << 20

    /// Scans `path`, calling `visit` for every valid record in order (payload copied out).
    /// - Throws: `Errno` if the file cannot be read, `WireError` if its header is invalid.
    public static func scan(
        _ path: String, payloadBytesMax: Int = 1 << 30, visit: ((StreamRecord) throws -> Void)? = nil
    ) throws -> StreamFileScan {
        let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        defer { try? fd.close() }
        var reader = try PositionalReader(fd: fd)
        let fixed = try reader.read(StreamFileFormat.fileHeaderFixedByteCount)
        guard let fixed, Array(fixed[0..<4]) == StreamFileFormat.magic else {
            throw WireError(.badFrame, "\(path): not a Lockstep stream file (bad magic)")
        }
        let jsonLength = Int(StreamFileFormat.load32(fixed, 8))
        guard jsonLength <= StreamFileFormat.headerJSONBytesMax, let json = try reader.read(jsonLength),
            CRC32C.checksum(json) == StreamFileFormat.load32(fixed, 12)
        else { throw WireError(.crcMismatch, "\(path): stream file header is damaged") }
        var scan = StreamFileScan(path: path, description: try JSONValue.parse(json))
        scan.fileByteCount = reader.fileByteCount
        scan.validByteCount = reader.offset
        while reader.offset < reader.fileByteCount {
            guard let problem = try readRecord(&reader, &scan, payloadBytesMax: payloadBytesMax, visit: visit) else { continue }
            scan.problem = problem
            break
        }
        return scan
    }

    /// Reads one record; returns a problem description when the record is not valid.
    static func readRecord(
        _ reader: inout PositionalReader, _ scan: inout StreamFileScan, payloadBytesMax: Int,
        visit: ((StreamRecord) throws -> Void)?
    ) throws -> String? {
        let at = reader.offset
        guard let headers = try reader.read(StreamFileFormat.recordHeaderByteCount + FrameHeader.byteCount) else {
            return "incomplete record header at byte \(at)"
        }
        let hubNanos = Int64(bitPattern: StreamFileFormat.load64(headers, 0))
        let frame: FrameHeader
        do {
            frame = try FrameHeader.decode(Array(headers[16...]).span, payloadBytesMax: payloadBytesMax)
        } catch { return "invalid frame header at byte \(at): \(error)" }
        guard StreamFileFormat.load32(headers, 8) == StreamFileFormat.recordCRC(hubReceiveNanos: hubNanos, frameCRC: frame.crc)
        else { return "record checksum mismatch at byte \(at)" }
        guard let payload = try reader.read(Int(frame.payloadByteCount)) else { return "incomplete payload at byte \(at)" }
        guard frame.expectedCRC(payload: payload.span) == frame.crc else { return "frame checksum mismatch at byte \(at)" }
        guard frame.sequence == scan.nextSequence else {
            return "sequence \(frame.sequence) where \(scan.nextSequence) was expected, at byte \(at)"
        }
        try visit?(StreamRecord(header: frame, hubReceiveNanos: hubNanos, fileOffset: at, payload: payload))
        scan.frameCount += 1
        scan.payloadByteCount += Int64(payload.count)
        scan.nextSequence += 1
        scan.firstCaptureNanos = scan.firstCaptureNanos ?? frame.captureNanos
        scan.lastCaptureNanos = frame.captureNanos
        scan.firstHubReceiveNanos = scan.firstHubReceiveNanos ?? hubNanos
        scan.lastHubReceiveNanos = hubNanos
        scan.validByteCount = reader.offset
        return nil
    }
}

extension StreamFileReader {
    /// Whether the bytes of `path` from `offset` to its end are all zero: what the engine's O_DIRECT
    /// writes leave after the last record while a stream is open (the last block's padding).
    public static func isZeroTail(_ path: String, from offset: Int64) throws -> Bool {
        let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        defer { try? fd.close() }
        var reader = try PositionalReader(fd: fd)
        var position = offset
        while position < reader.fileByteCount {
            let count = Int(min(Int64(readChunkByteCount), reader.fileByteCount - position))
            reader.seek(to: position)
            guard let bytes = try reader.read(count), bytes.allSatisfy({ $0 == 0 }) else { return false }
            position += Int64(count)
        }
        return true
    }
}

/// Sequential reads through pread with a 1 MiB window.
struct PositionalReader {
    let fd: FileDescriptor
    let fileByteCount: Int64
    private(set) var offset: Int64 = 0

    init(fd: FileDescriptor) throws(Errno) {
        self.fd = fd
        fileByteCount = try FileIO.size(fd)
    }

    mutating func seek(to position: Int64) { offset = position }

    /// Reads exactly `count` bytes, or returns nil if the file ends first.
    mutating func read(_ count: Int) throws(Errno) -> [UInt8]? {
        guard Int64(count) <= fileByteCount - offset else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = try errnoTyped {
                try unsafe bytes.withUnsafeMutableBytes { raw in
                    try unsafe FileIO.read(fd, at: offset + Int64(filled), into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
                }
            }
            if got == 0 { return nil }
            filled += got
        }
        offset += Int64(count)
        return bytes
    }
}
