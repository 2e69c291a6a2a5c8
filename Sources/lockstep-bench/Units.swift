// Command-line quantities with units: rates ("12.5MB/s", "100MiB/s", "12.5") and durations
// ("20s", "500ms", "2m", "20").
import ArgumentParser

/// A data rate in bytes per second. A bare number means MB/s (10^6 bytes per second).
struct Rate: ExpressibleByArgument, CustomStringConvertible {
    var bytesPerSecond: Double

    init(bytesPerSecond: Double) { self.bytesPerSecond = bytesPerSecond }

    init?(argument: String) {
        let units: [(String, Double)] = [("GiB/s", 1_073_741_824), ("MiB/s", 1_048_576), ("KiB/s", 1024), ("GB/s", 1e9), ("MB/s", 1e6),
                                         ("KB/s", 1e3), ("kB/s", 1e3), ("B/s", 1), ("", 1e6)]
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            guard let number = Double(argument.dropLast(suffix.count)), number > 0, number.isFinite else { return nil }
            bytesPerSecond = number * factor
            return
        }
        return nil
    }

    var megabytesPerSecond: Double { bytesPerSecond / 1e6 }
    var description: String { "\(megabytesPerSecond) MB/s" }
}

/// A duration in seconds. A bare number means seconds.
struct TimeSpan: ExpressibleByArgument, CustomStringConvertible {
    var seconds: Double

    init(seconds: Double) { self.seconds = seconds }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600), ("", 1)]
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            guard let number = Double(argument.dropLast(suffix.count)), number > 0, number.isFinite else { return nil }
            seconds = number * factor
            return
        }
        return nil
    }

    var description: String { "\(seconds) s" }
}
