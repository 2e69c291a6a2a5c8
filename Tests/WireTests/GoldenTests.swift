// docs/protocol.md carries golden examples in fenced blocks tagged `golden:NAME`. This test checks
// that each one is exactly what this code produces, and that the JSON ones decode to the same
// message: the document and the code cannot drift apart. Run with LOCKSTEP_PRINT_GOLDEN=1 to print them.
import Foundation
import Testing
@testable import Wire

@Suite struct GoldenTests {
    static func hex(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: bytes.count, by: 16).map { row in
            bytes[row..<min(row + 16, bytes.count)].map { String(format: "%02x", $0) }.joined(separator: " ")
        }.joined(separator: "\n")
    }

    static var expected: [(String, String)] {
        var out: [(String, String)] = []
        for (index, message) in ControlMessageTests.all.enumerated() where index != 7 {
            out.append(("json-\(message.type)", ControlEnvelope(id: "m\(index)", message: message).encoded()))
        }
        out.append(("hex-data-frame", hex(DataFrame.encode(
            streamID: 1, sequence: 7, captureNanos: 1_000_000_000, flags: FrameHeader.keyFrameFlag, payload: Array("hello".utf8)))))
        out.append(("hex-handshake", hex(DataHandshake(
            streamID: 1, resumeFrom: 0, deviceID: "phone-01", token: "t0ken", sessionID: "20261129T101500Z-pilot").encoded())))
        out.append(("hex-handshake-reply", hex(DataHandshakeReply(error: nil, nextSequence: 42).encoded())))
        out.append(("hex-handshake-refusal", hex(DataHandshakeReply(error: .unauthorized, nextSequence: 0).encoded())))
        out.append(("hex-sync", hex(SyncPacket(
            kind: .sync, key: 0x0123_4567_89AB_CDEF, exchangeID: 5, timestampA: 2_000_000_000, sourceA: .user).encoded())))
        out.append(("hex-response", hex(SyncPacket(
            kind: .response, key: 0x0123_4567_89AB_CDEF, exchangeID: 5, timestampA: 2_250_040_000, timestampB: 2_250_055_000,
            sourceA: .kernel, sourceB: .user).encoded())))
        return out
    }

    static func documentBlocks() throws -> [String: String] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/protocol.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var blocks: [String: String] = [:]
        var current: String?
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let name = current {
                if line.hasPrefix("```") {
                    blocks[name] = lines.joined(separator: "\n")
                    current = nil
                } else { lines.append(String(line)) }
            } else if line.hasPrefix("```golden:") {
                current = String(line.dropFirst("```golden:".count)).trimmingCharacters(in: .whitespaces)
                lines = []
            }
        }
        return blocks
    }

    @Test func documentMatchesCode() throws {
        if ProcessInfo.processInfo.environment["LOCKSTEP_PRINT_GOLDEN"] != nil {
            for (name, text) in Self.expected { print("```golden:\(name)\n\(text)\n```\n") }
        }
        let blocks = try Self.documentBlocks()
        for (name, text) in Self.expected {
            let block = try #require(blocks[name], "docs/protocol.md lacks the golden block \(name)")
            #expect(block == text, "golden block \(name) differs from the code's output")
            if name.hasPrefix("json-") { #expect(try ControlEnvelope.decode(block).encoded() == text) }
        }
    }
}
