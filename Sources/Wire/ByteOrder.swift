// Little-endian field access for the binary formats (data frames, handshakes, sync packets).
// Every binary integer in docs/protocol.md is little-endian; readers take a Span and an offset,
// writers append to a [UInt8]. Callers check the length first; these functions trap on overrun.

@inline(__always)
func loadLE16(_ bytes: Span<UInt8>, _ offset: Int) -> UInt16 {
    UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
}

@inline(__always)
func loadLE32(_ bytes: Span<UInt8>, _ offset: Int) -> UInt32 {
    UInt32(loadLE16(bytes, offset)) | UInt32(loadLE16(bytes, offset + 2)) << 16
}

@inline(__always)
func loadLE64(_ bytes: Span<UInt8>, _ offset: Int) -> UInt64 {
    UInt64(loadLE32(bytes, offset)) | UInt64(loadLE32(bytes, offset + 4)) << 32
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendLE16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
    }

    @inline(__always)
    mutating func appendLE32(_ value: UInt32) {
        appendLE16(UInt16(truncatingIfNeeded: value))
        appendLE16(UInt16(truncatingIfNeeded: value >> 16))
    }

    @inline(__always)
    mutating func appendLE64(_ value: UInt64) {
        appendLE32(UInt32(truncatingIfNeeded: value))
        appendLE32(UInt32(truncatingIfNeeded: value >> 32))
    }

    /// Overwrites four bytes at `offset` with `value`, little-endian.
    @inline(__always)
    mutating func storeLE32(_ value: UInt32, at offset: Int) {
        for shift in 0..<4 { self[offset + shift] = UInt8(truncatingIfNeeded: value >> (8 * shift)) }
    }
}
