// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every data frame.
//
// Method: the CPU's CRC32C instruction (SSE4.2 `crc32` on x86-64, the CRC extension on AArch64)
// through the CCRC32C shim when the CPU has it; otherwise slicing-by-8 over eight 256-entry tables
// built once at first use (Intel's "Slicing-by-8" paper, 2006). Both paths are tested against the
// golden vectors in docs/protocol.md and against each other on random input.
// Check value: CRC32C("123456789") = 0xE3069283 (RFC 3720, appendix B.4).

import CCRC32C

/// Incremental CRC32C. Start from `CRC32C()`, `update` with bytes, read `value`.
public struct CRC32C: Sendable, Equatable {
    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// The finished checksum of everything passed to `update` so far.
    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// Feeds bytes into the checksum.
    public mutating func update(_ bytes: Span<UInt8>) {
        unsafe bytes.withUnsafeBufferPointer { buffer in
            unsafe self.update(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Feeds bytes into the checksum.
    public mutating func update(_ bytes: [UInt8]) {
        update(bytes.span)
    }

    /// Whether this process uses the CPU's CRC32C instruction.
    public static let isHardwareAccelerated = lockstep_crc32c_hw_available() == 1

    /// "hardware" or "portable (slicing-by-8)", for status output and benchmarks.
    public static var implementation: String { isHardwareAccelerated ? "hardware" : "portable (slicing-by-8)" }

    /// Feeds raw bytes into the checksum; the pointer is only read for the duration of the call.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard CRC32C.isHardwareAccelerated else { return unsafe updatePortable(buffer) }
        guard let base = buffer.baseAddress else { return }
        state = unsafe lockstep_crc32c_hw_update(state, base, buffer.count)
    }

    /// The slicing-by-8 path, used when the CPU lacks the instruction (public so tests and benchmarks
    /// can compare both paths on one machine).
    public mutating func updatePortable(_ buffer: UnsafeRawBufferPointer) {
        let tables = CRC32CTables.shared
        var crc = state
        var index = 0
        let count = buffer.count
        unsafe tables.storage.withUnsafeBufferPointer { t in
            while count - index >= 8 {
                let low = unsafe UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: index, as: UInt32.self)) ^ crc
                let high = unsafe UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self))
                crc = unsafe t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                index += 8
            }
            while index < count {
                crc = unsafe t[Int((crc ^ UInt32(buffer[index])) & 0xFF)] ^ (crc >> 8)
                index += 1
            }
        }
        state = crc
    }

    /// The CRC32C of one byte sequence.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }
}

/// Eight 256-entry lookup tables, flattened: table k holds the CRC of a byte followed by k zero bytes.
final class CRC32CTables: Sendable {
    static let shared = CRC32CTables()
    let storage: [UInt32]

    private init() {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[byte] = crc
        }
        for byte in 0..<256 {
            var crc = tables[byte]
            for slice in 1..<8 {
                crc = tables[Int(crc & 0xFF)] ^ (crc >> 8)
                tables[slice * 256 + byte] = crc
            }
        }
        storage = tables
    }
}
