// lockstep-bench: the bundled benchmark tool. `ingest` and `sync` run lockstepd and simulated devices
// as separate processes and measure against the disk's own speed and a known clock truth; `wire`
// measures the codecs in process. Results and the commands that produced them: docs/benchmarks.md.
import ArgumentParser
import Foundation
import Wire

@main
struct LockstepBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep-bench", abstract: "Measure Lockstep on this host.",
        subcommands: [IngestBench.self, SyncBench.self, SoakBench.self, WireBench.self, NaiveReceiver.self, PacedSender.self])
}

struct WireBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wire", abstract: "CRC32C and frame codec throughput, in process.")
    @Option(help: "Payload size in bytes.") var payloadBytes: Int = 1 << 20
    @Option(help: "Seconds per measurement.") var seconds: Double = 1
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let payload = (0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let crc = measure { _ = CRC32C.checksum(payload) }
        let portable = measure {
            var state = CRC32C()
            payload.withUnsafeBytes { state.updatePortable($0) }
        }
        let frame = DataFrame.encode(streamID: 1, sequence: 7, captureNanos: 1, payload: payload)
        let decode = measure {
            let header = try! FrameHeader.decode(frame.span, payloadBytesMax: payloadBytes)
            precondition(header.expectedCRC(payload: frame.span.extracting(FrameHeader.byteCount...)) == header.crc)
        }
        let crcMBps = Double(payloadBytes) * crc / 1e6
        let portableMBps = Double(payloadBytes) * portable / 1e6
        let decodeMBps = Double(payloadBytes) * decode / 1e6
        if json {
            let fields: JSONValue = .object([
                "crc32c_mb_per_s": .int(Int64(crcMBps)), "crc32c_portable_mb_per_s": .int(Int64(portableMBps)),
                "crc32c": .string(CRC32C.implementation), "frame_decode_verify_mb_per_s": .int(Int64(decodeMBps)),
                "payload_bytes": .int(Int64(payloadBytes)),
            ])
            print(fields.serialized)
        } else {
            print("CRC32C (\(CRC32C.implementation)): \(Int(crcMBps)) MB/s")
            print("CRC32C (portable slicing-by-8): \(Int(portableMBps)) MB/s")
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

