// Simulated sensor streams with deterministic, verifiable payloads.
//
// Every frame is a pure function of (device id, stream id, sequence): its size, key-frame flag,
// capture instant (start + sequence × period) and payload bytes (SplitMix64 from a seed). So a
// verifier can regenerate any frame, and a reconnecting device can resend from any sequence
// without buffering what it sent.
import Wire

/// A simulated stream: descriptor plus the rule for frame sizes.
public struct StreamProfile: Sendable, Equatable {
    public var descriptor: StreamDescriptor
    /// Frame (sample) period in nanoseconds.
    public var periodNanos: Int64
    /// Size of a non-key frame before jitter.
    public var frameBytes: Int
    /// Frames per group of pictures; frame 0 of each group is a key frame `keyFrameFactor` times larger.
    public var groupLength: Int
    public var keyFrameFactor: Int
    /// Relative size jitter of non-key frames (0.1 = ±10 %).
    public var jitter: Double

    /// The RGB camera: H.264 at 30 fps, ≈ 12.5 MB/s, key frame every 30 frames at 4× the size.
    public static func video(id: UInt16 = 1, scale: Double = 1) -> StreamProfile {
        // 12.5 MB/s over 30 frames/s with one 4× key frame per 30: delta = 12.5e6 / 30 × 30 / 33.
        let delta = Int((12_500_000.0 / 33.0 * scale).rounded())
        return StreamProfile(
            descriptor: StreamDescriptor(id: id, kind: .video, codec: "h264", rateHz: 30, nominalBytesPerSecond: Int64(12_500_000 * scale)),
            periodNanos: 33_333_333, frameBytes: delta, groupLength: 30, keyFrameFactor: 4, jitter: 0.1)
    }

    /// The thermal camera: 256×192 16-bit raw at 25 fps (98,304-byte frames, ≈ 2.46 MB/s).
    public static func thermal(id: UInt16 = 2, scale: Double = 1) -> StreamProfile {
        let bytes = Int((256.0 * 192 * 2 * scale).rounded())
        return StreamProfile(
            descriptor: StreamDescriptor(id: id, kind: .thermal, codec: "raw-y16-256x192", rateHz: 25, nominalBytesPerSecond: Int64(bytes * 25)),
            periodNanos: 40_000_000, frameBytes: bytes, groupLength: 1, keyFrameFactor: 1, jitter: 0)
    }

    /// The GSR sensor: 128 Hz, one 16-byte sample per frame (conductance, raw, PPG, flags).
    public static func gsr(id: UInt16 = 3) -> StreamProfile {
        StreamProfile(
            descriptor: StreamDescriptor(id: id, kind: .gsr, codec: "gsr-16b", rateHz: 128, nominalBytesPerSecond: 16 * 128),
            periodNanos: 7_812_500, frameBytes: 16, groupLength: 1, keyFrameFactor: 1, jitter: 0)
    }

    /// A named set of streams: "phone" (video, thermal, GSR), "video", "thermal", "gsr".
    public static func set(named name: String, scale: Double = 1) -> [StreamProfile]? {
        switch name {
        case "phone", "mixed": [video(scale: scale), thermal(scale: scale), gsr()]
        case "video": [video(scale: scale)]
        case "thermal": [thermal(scale: scale)]
        case "gsr": [gsr()]
        default: nil
        }
    }

    public static let setNames = ["phone", "mixed", "video", "thermal", "gsr"]

    /// The frame with `sequence`: whether it is a key frame and its payload size.
    public func frameShape(sequence: UInt64, seed: UInt64) -> (isKey: Bool, byteCount: Int) {
        let isKey = groupLength > 1 && sequence % UInt64(groupLength) == 0
        if isKey { return (true, frameBytes * keyFrameFactor) }
        guard jitter > 0 else { return (false, frameBytes) }
        var mixer = SplitMix64(seed: seed ^ 0x5EED_0000_0000_0000 ^ sequence)
        let unit = Double(mixer.next() >> 11) / Double(1 << 53)  // [0, 1)
        return (false, max(1, Int((Double(frameBytes) * (1 + jitter * (2 * unit - 1))).rounded())))
    }
}

/// The deterministic content of simulated frames.
public enum FramePayload {
    /// The seed of one device stream: FNV-1a of the device id, mixed with the stream id.
    public static func seed(deviceID: String, streamID: UInt16) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in deviceID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash ^ (UInt64(streamID) << 48)
    }

    /// Fills a payload of `byteCount` bytes for `sequence`.
    public static func make(seed: UInt64, sequence: UInt64, byteCount: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            unsafe fill(seed: seed, sequence: sequence, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = byteCount
        }
    }

    /// Writes the payload of `sequence` over all of `raw` (its length is the payload's), with no
    /// allocation: the simulated devices build each frame in place in one reused buffer.
    public static func fill(seed: UInt64, sequence: UInt64, into raw: UnsafeMutableRawBufferPointer) {
        var mixer = SplitMix64(seed: seed &+ sequence &* 0x9E37_79B9_7F4A_7C15)
        let byteCount = raw.count
        var offset = 0
        while offset + 8 <= byteCount {
            unsafe raw.storeBytes(of: mixer.next().littleEndian, toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        var tail = mixer.next()
        while offset < byteCount {
            unsafe raw[offset] = UInt8(truncatingIfNeeded: tail)
            tail >>= 8
            offset += 1
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable generator.
public struct SplitMix64: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A device clock: the host's monotonic clock with a synthetic offset and skew (the known truth in tests).
public struct DeviceClock: Sendable {
    public var offsetNanos: Int64
    public var skewPPM: Double
    /// The host instant the skew is measured from.
    public var anchorNanos: Int64

    public init(offsetNanos: Int64 = 0, skewPPM: Double = 0, anchorNanos: Int64) {
        self.offsetNanos = offsetNanos
        self.skewPPM = skewPPM
        self.anchorNanos = anchorNanos
    }

    /// The device reading at host monotonic instant `host`.
    public func reading(atHost host: Int64) -> Int64 {
        host + offsetNanos + Int64((Double(host - anchorNanos) * skewPPM * 1e-6).rounded())
    }

    /// The host monotonic instant at which the device reads `device`.
    public func hostInstant(atDevice device: Int64) -> Int64 {
        let relative = Double(device - offsetNanos - anchorNanos) / (1 + skewPPM * 1e-6)
        return anchorNanos + Int64(relative.rounded())
    }
}
