// A writer of XDF 1.0 files (the Lab Streaming Layer recording format read by pyxdf, MNE and EEGLAB):
// "XDF:", then chunks of [length-byte count][length][tag][content], all little-endian. Tags:
// 1 FileHeader, 2 StreamHeader, 3 Samples, 4 ClockOffset, 5 Boundary, 6 StreamFooter.
// Spec: https://github.com/sccn/xdf/wiki/Specifications (read, not copied).
import Foundation
import Platform
import SystemPackage

struct XDFWriter {
    enum Format: String { case double64, string }

    private let fd: FileDescriptor
    private var buffer: [UInt8] = []
    /// The first write error; chunks keep buffering, `finish` reports it.
    private var failure: (any Error)?

    init(path: String) throws {
        fd = try FileDescriptor.open(
            FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        buffer = Array("XDF:".utf8)
        chunk(tag: 1, Array("<?xml version=\"1.0\"?><info><version>1.0</version><writer>lockstep</writer></info>".utf8))
    }

    mutating func streamHeader(id: UInt32, xml: String) {
        chunk(tag: 2, le(id) + Array(xml.utf8))
    }

    /// One Samples chunk of numeric samples (each `values.count` must equal the stream's channel count).
    mutating func samples(id: UInt32, _ rows: [(timestamp: Double, values: [Double])]) {
        var content = le(id) + varLength(UInt64(rows.count))
        for row in rows {
            content.append(8)
            content += le(row.timestamp.bitPattern)
            for value in row.values { content += le(value.bitPattern) }
        }
        chunk(tag: 3, content)
    }

    /// One Samples chunk of single-channel string samples.
    mutating func stringSamples(id: UInt32, _ rows: [(timestamp: Double, value: String)]) {
        var content = le(id) + varLength(UInt64(rows.count))
        for row in rows {
            content.append(8)
            content += le(row.timestamp.bitPattern)
            let bytes = Array(row.value.utf8)
            content += varLength(UInt64(bytes.count)) + bytes
        }
        chunk(tag: 3, content)
    }

    /// A clock offset: at `collectionTime` (the stream's clock), add `offset` to reach the recorder's clock.
    mutating func clockOffset(id: UInt32, collectionTime: Double, offset: Double) {
        chunk(tag: 4, le(id) + le(collectionTime.bitPattern) + le(offset.bitPattern))
    }

    mutating func boundary() {
        chunk(tag: 5, [0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F, 0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4])
    }

    mutating func streamFooter(id: UInt32, xml: String) {
        chunk(tag: 6, le(id) + Array(xml.utf8))
    }

    /// Writes what is buffered and closes the file (synced: an export is a deliverable).
    mutating func finish() throws {
        if let failure { throw failure }
        try flush()
        try FileIO.dataSync(fd)
        try fd.close()
    }

    private mutating func chunk(tag: UInt16, _ content: [UInt8]) {
        let length = UInt64(content.count + 2)
        buffer += varLength(length) + le(tag) + content
        if buffer.count >= 4 << 20 {
            do { try flush() } catch { failure = failure ?? error }
        }
    }

    private mutating func flush() throws {
        try FileIO.writeAll(fd, buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// XDF's variable-length integer: a byte saying 1, 4 or 8, then the value in that many bytes.
    func varLength(_ value: UInt64) -> [UInt8] {
        if value <= UInt64(UInt8.max) { return [1, UInt8(value)] }
        if value <= UInt64(UInt32.max) { return [4] + le(UInt32(value)) }
        return [8] + le(value)
    }

    func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    /// Text fit for XML 1.0 character data: markup escaped, characters XML forbids (controls) dropped.
    static func escape(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 0x20 || $0 == "\t" || $0 == "\n" || $0 == "\r" }))
            .replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
