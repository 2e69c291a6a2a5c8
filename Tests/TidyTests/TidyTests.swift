// Style rules enforced as a test (after TigerBeetle's tidy.zig): banned APIs per module, line length,
// file length. Each failure names the file, the line and the replacement.
import Foundation
import Testing

@Suite struct TidyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

    static func swiftFiles(under folder: String) -> [String] {
        let base = root + "/" + folder
        guard let enumerator = FileManager.default.enumerator(atPath: base) else { return [] }
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.map { base + "/" + $0 }.sorted()
    }

    static func lines(_ path: String) -> [Substring] {
        (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n", omittingEmptySubsequences: false) ?? []
    }

    /// (modules, banned text, why / what to use instead)
    static let bans: [([String], String, String)] = [
        (["Wire", "Timing", "Ingest"], "Date()", "read time through HostClock in I/O layers and pass it in"),
        (["Wire", "Timing", "Ingest"], "DispatchQueue", "use a PlatformThread with a bounded loop"),
        (["Wire", "Timing", "Ingest"], "usleep(", "use HostClock.sleep"),
        (["Wire", "Timing"], "import Foundation", "pure modules stay free of Foundation"),
        (["Wire", "Timing", "Platform", "Ingest", "TimeSync", "Controller", "Report", "DeviceAgent"], "try!", "handle the error"),
        (["Wire", "Timing", "Platform", "Ingest", "TimeSync", "Controller", "Report", "DeviceAgent"], "FIXME", "fix it or file an issue"),
        (["Wire", "Timing", "Platform", "Ingest", "TimeSync", "Controller", "Report", "DeviceAgent"], "print(", "log through swift-log"),
    ]

    @Test func bannedAPIs() {
        var found: [String] = []
        for (modules, text, why) in Self.bans {
            for module in modules {
                for path in Self.swiftFiles(under: "Sources/\(module)") {
                    for (number, line) in Self.lines(path).enumerated()
                    where line.contains(text) && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                        found.append("\(path):\(number + 1): \(text) is banned in \(module): \(why)")
                    }
                }
            }
        }
        #expect(found.isEmpty, "\(found.joined(separator: "\n"))")
    }

    @Test func linesAndFilesStayShort() {
        var found: [String] = []
        for folder in ["Sources", "Tests"] {
            for path in Self.swiftFiles(under: folder) {
                let lines = Self.lines(path)
                if lines.count > 400 { found.append("\(path): \(lines.count) lines (limit 400: split it)") }
                for (number, line) in lines.enumerated() where line.count > 150 {
                    found.append("\(path):\(number + 1): \(line.count) characters (limit 150)")
                }
            }
        }
        #expect(found.isEmpty, "\(found.joined(separator: "\n"))")
    }

    @Test func theRulesSeeTheSources() {
        // Guards the test itself: if the paths were wrong, every rule above would pass vacuously.
        #expect(Self.swiftFiles(under: "Sources/Wire").count >= 5)
        #expect(Self.swiftFiles(under: "Sources/Ingest").count >= 4)
    }
}
