// lockstepd's log lines on stderr. Under systemd (JOURNAL_STREAM set) each line starts with its
// syslog priority, "<3>" for error and so on (sd-daemon(3)), and carries no timestamp: journald
// stamps and classifies it. Elsewhere a line starts with an ISO 8601 UTC time and the level.
// One process-wide level, so a SIGHUP reload changes it for every logger at once.
import Foundation
import Logging
import Platform
import SystemPackage

public struct ApplianceLogHandler: LogHandler {
    /// The level every handler shares.
    public static let level = Locked<Logger.Level>(.info)

    public let label: String
    public let journal: Bool
    public var metadata: Logger.Metadata = [:]

    public init(label: String, journal: Bool) {
        self.label = label
        self.journal = journal
    }

    /// True when stderr is journald's stream: systemd sets JOURNAL_STREAM to its "device:inode", which
    /// must match stderr's (sd_journal_stream_fd(3)); a shell that inherited the variable, or stderr
    /// redirected to a file, does not match.
    public static var stderrIsJournal: Bool {
        guard let value = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        var status = stat()
        guard fstat(2, &status) == 0 else { return false }
        return matchesJournalStream(value, device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// Whether JOURNAL_STREAM's "device:inode" names this device and inode.
    static func matchesJournalStream(_ value: String, device: UInt64, inode: UInt64) -> Bool {
        let parts = value.split(separator: ":")
        return parts.count == 2 && UInt64(parts[0]) == device && UInt64(parts[1]) == inode
    }

    public var logLevel: Logger.Level {
        get { Self.level.withLock { $0 } }
        set { Self.level.withLock { $0 = newValue } }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let line = Self.format(
            level: event.level, message: "\(event.message)", metadata: merged, label: label, source: event.source,
            journal: journal, now: Date())
        try? FileIO.writeAll(FileDescriptor.standardError, Array(line.utf8))
    }

    /// One log line, newline included. Metadata is sorted so lines compare across runs.
    public static func format(
        level: Logger.Level, message: String, metadata: Logger.Metadata, label: String, source: String, journal: Bool, now: Date
    ) -> String {
        let fields = metadata.isEmpty ? "" : " " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = message.replacingOccurrences(of: "\n", with: " ")
        if journal { return "<\(priority(level))>\(label): [\(source)] \(text)\(fields)\n" }
        let time = now.formatted(.iso8601)
        return "\(time) \(level) \(label): [\(source)] \(text)\(fields)\n"
    }

    /// The syslog priority journald files a line under.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
