// The tidy CSV form of the timing report: one row per observation, the same columns for everything
// (device_id, quantity, hub_ns, tau_s, value, unit, used), so R, pandas or a spreadsheet can filter
// and pivot it. Per-sample quantities carry hub_ns; stability quantities carry tau_s.
import Wire

public enum ReportCSV {
    public static let header = "device_id,quantity,hub_ns,tau_s,value,unit,used"

    /// Per-sample columns of report.json's `series` with their unit.
    static let sampleQuantities: [(series: String, quantity: String, unit: String)] = [
        ("offset_ns", "offset", "ns"), ("delay_ns", "delay", "ns"), ("residual_ns", "residual", "ns"), ("bound_ns", "bound", "ns"),
        ("live_offset_ns", "live_offset", "ns"), ("live_uncertainty_ns", "live_uncertainty", "ns"), ("live_skew_ppm", "live_skew", "ppm"),
    ]

    public static func render(_ report: JSONValue) -> String {
        var lines = [header]
        for device in report["devices"]?.arrayValue ?? [] {
            guard let id = device["device_id"]?.stringValue else { continue }
            let series = device["series"]
            let times = series?["hub_ns"]?.arrayValue ?? []
            let used = series?["used"]?.arrayValue ?? []
            for (name, quantity, unit) in sampleQuantities {
                for (index, value) in (series?[name]?.arrayValue ?? []).enumerated() {
                    guard let number = cell(value), index < times.count, let time = times[index].intValue else { continue }
                    let flag = index < used.count ? (used[index] == .bool(true) ? "1" : "0") : ""
                    lines.append("\(id),\(quantity),\(time),,\(number),\(unit),\(flag)")
                }
            }
            for (name, quantity, unit) in [("adev", "adev", "1"), ("tdev_ns", "tdev", "ns"), ("mtie_ns", "mtie", "ns")] {
                for point in device["stability"]?[name]?.arrayValue ?? [] {
                    guard let tau = point["tau_s"]?.doubleValue, let value = point["value"].flatMap(cell) else { continue }
                    lines.append("\(id),\(quantity),,\(tau),\(value),\(unit),")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func cell(_ value: JSONValue) -> String? {
        switch value {
        case .int(let number): String(number)
        case .double(let number) where number.isFinite: String(number)
        default: nil
        }
    }
}
