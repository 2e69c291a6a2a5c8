// lockstep-bench: the bundled benchmark tool. This first version measures the wire codecs in process;
// the end-to-end ingest and sync benchmarks (with the disk baseline) land with the benchmark issue and
// until then refuse with a clear message rather than print numbers they did not measure.
import ArgumentParser
import Foundation
import Wire

@main
struct LockstepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep-bench", abstract: "Measure Lockstep on this host.",
        subcommands: [WireBench.self, NotYet.self])
}

struct WireBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wire", abstract: "CRC32C and frame codec throughput, in process.")
    @Option(help: "Payload size in bytes.") var payloadBytes: Int = 1 << 20
    @Option(help: "Seconds per measurement.") var seconds: Double = 1
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let payload = (0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let crc = measure { _ = CRC32C.checksum(payload) }
        let frame = DataFrame.encode(streamID: 1, sequence: 7, captureNanos: 1, payload: payload)
        let decode = measure {
            let header = try! FrameHeader.decode(frame.span, payloadBytesMax: payloadBytes)
            precondition(header.expectedCRC(payload: frame.span.extracting(FrameHeader.byteCount...)) == header.crc)
        }
        let crcMBps = Double(payloadBytes) * crc / 1e6
        let decodeMBps = Double(payloadBytes) * decode / 1e6
        if json {
            print("{\"crc32c_mb_per_s\":\(Int(crcMBps)),\"frame_decode_verify_mb_per_s\":\(Int(decodeMBps)),\"payload_bytes\":\(payloadBytes)}")
        } else {
            print("CRC32C (slicing-by-8): \(Int(crcMBps)) MB/s")
            print("frame decode + verify: \(Int(decodeMBps)) MB/s (payload \(payloadBytes) bytes)")
        }
    }

    /// Operations per second of `body` over `seconds`.
    func measure(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        var count = 0
        while Double(DispatchTime.now().uptimeNanoseconds - start) < seconds * 1e9 {
            body()
            count += 1
        }
        return Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}

struct NotYet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "End-to-end ingest benchmark (not built yet).", aliases: ["sync"])

    func run() throws {
        FileHandle.standardError.write(Data("""
            lockstep-bench: the end-to-end ingest and sync benchmarks are not built yet (see the benchmark issue).
            Use `lockstep-bench wire` for the codec micro-benchmark.\n
            """.utf8))
        throw ExitCode(2)
    }
}
