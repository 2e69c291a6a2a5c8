// Codec micro-benchmarks. Each reports throughput and mallocs per iteration; the decode path of the
// data plane must not allocate (see STYLE.md, "Allocation discipline").
import Benchmark
import Wire

let payload = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31) }
let frame = DataFrame.encode(streamID: 1, sequence: 7, captureNanos: 1_000_000_000, payload: payload)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2))

    Benchmark("CRC32C 64 KiB") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(CRC32C.checksum(payload)) }
    }

    Benchmark("Frame header decode") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try FrameHeader.decode(frame.span, payloadBytesMax: 1 << 20))
        }
    }

    Benchmark("Frame header decode + CRC check 64 KiB") { benchmark in
        for _ in benchmark.scaledIterations {
            let header = try FrameHeader.decode(frame.span, payloadBytesMax: 1 << 20)
            blackHole(header.expectedCRC(payload: frame.span.extracting(FrameHeader.byteCount...)) == header.crc)
        }
    }

    Benchmark("Frame encode 64 KiB") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(DataFrame.encode(streamID: 1, sequence: 7, captureNanos: 1, payload: payload))
        }
    }

    // Control: allocates once per iteration, so the malloc metric is shown to be live.
    Benchmark("Control: one allocation") { benchmark in
        for index in benchmark.scaledIterations { blackHole([index]) }
    }
}
