// The HTML form of the timing report: one self-contained file (inline CSS and SVG, no script, no
// external font or image), readable on screen and printed. Sections: summary and verdict, devices,
// pairwise alignment, per-device charts, data integrity, markers, method. Rendered from report.json
// alone, so `lockstep report --format html` gives the same page offline.
import Foundation
import Wire

public enum ReportHTML {
    public static func render(_ report: JSONValue) -> String {
        let e = SVGChart.escape
        let devices = report["devices"]?.arrayValue ?? []
        let verdict = report["verdict"]?.stringValue ?? "unknown"
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Timing report \(e(report["session_id"]?.stringValue ?? ""))</title>
            <style>\(style)</style></head><body>
            <header><h1>Timing report</h1><p class="id">\(e(report["session_id"]?.stringValue ?? ""))</p></header>
            <section id="summary"><h2>Summary</h2>
            <p class="verdict \(e(verdict))">Verdict: <strong>\(e(verdict))</strong></p>
            <p class="headline">\(e(report["headline"]?.stringValue ?? ""))</p>

            """
        html += table(["", ""], [
            ["Name", text(report["name"])], ["Participant", text(report["participant"])], ["Notes", text(report["notes"])],
            ["Status", text(report["status"])], ["Duration", report["duration_s"]?.doubleValue.map { String(format: "%.1f s", $0) } ?? "–"],
            ["Devices", "\(devices.count)"], ["Start spread", nanos(report["start_spread_ns"])],
            ["Tolerance", nanos(report["tolerance_ns"])], ["Hub", "\(text(report["hub_id"])) (Lockstep \(text(report["software_version"])))"],
        ], className: "facts")
        html += "</section>\n<section id=\"devices\"><h2>Devices</h2>"
        html += table(["Device", "Source", "Samples used / all", "Offset", "Skew (ppm)", "Skew drift (ppm/h)", "Delay min / median / p99",
                       "Jitter RMS", "Time error p99 / max", "Bound p99.9 / max", "Steps", "Path changes", "Start offset"],
                      devices.map { d in
            [text(d["device_id"]), text(d["timestamp_source"]), "\(text(d["samples_used"])) / \(text(d["samples"]))",
             nanos(d["offset_ns"]), text(d["skew_ppm"]), text(d["skew_drift_ppm_per_hour"]),
             "\(nanos(d["delay_ns"]?["min"])) / \(nanos(d["delay_ns"]?["median"])) / \(nanos(d["delay_ns"]?["p99"]))",
             nanos(d["jitter_rms_ns"]), "\(nanos(d["time_error_ns"]?["p99"])) / \(nanos(d["time_error_ns"]?["max"]))",
             "\(nanos(d["bound_ns"]?["p999"])) / \(nanos(d["bound_ns"]?["max"]))", "\(d["steps"]?.arrayValue?.count ?? 0)",
             text(d["path_changes"]), nanos(d["start_offset_ns"])]
        }, className: "devices")
        let alignment = report["alignment"]
        html += "</section>\n<section id=\"alignment\"><h2>Pairwise alignment</h2>"
        html += "<p>The bound on the misalignment of two streams, per one-second interval, over every pair of devices.</p>"
        html += table(["Intervals", "p50", "p99", "p99.9", "max", "Worst pair"], [[
            text(alignment?["bins"]), nanos(alignment?["p50_ns"]), nanos(alignment?["p99_ns"]), nanos(alignment?["p999_ns"]),
            nanos(alignment?["max_ns"]), alignment?["worst_pair"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " – ") ?? "–",
        ]], className: "alignment")
        html += "</section>\n"
        for (index, device) in devices.enumerated() { html += deviceSection(device, colour: SVGChart.palette[index % SVGChart.palette.count]) }
        html += integritySection(report)
        html += markersSection(report)
        html += "<section id=\"method\"><h2>Method</h2><p>\(e(report["method"]?.stringValue ?? ""))</p>"
        html += "<p>Every figure is explained in plain words in docs/reports.md of the Lockstep distribution.</p></section>\n"
        return html + "</body></html>\n"
    }

    static func deviceSection(_ device: JSONValue, colour: String) -> String {
        let id = device["device_id"]?.stringValue ?? "?"
        var html = "<section class=\"device\" id=\"device-\(SVGChart.escape(id))\"><h2>Device \(SVGChart.escape(id))</h2>"
        guard let series = device["series"], let times = series["hub_ns"]?.arrayValue?.compactMap(\.intValue), let origin = times.first else {
            return html + "<p>\(SVGChart.escape(device["note"]?.stringValue ?? "no samples"))</p></section>\n"
        }
        let elapsed = times.map { Double($0 - origin) / 1e9 }
        let column = { (name: String) -> [Double?] in (series[name]?.arrayValue ?? []).map { $0.doubleValue } }
        let used = (series["used"]?.arrayValue ?? []).map { $0 == .bool(true) }
        let pairs = { (values: [Double?], scale: Double, onlyUsed: Bool) -> [(x: Double, y: Double)] in
            zip(elapsed.indices, values).compactMap { i, v in
                guard let v, !onlyUsed || (i < used.count && used[i]) else { return nil }
                return (elapsed[i], v * scale)
            }
        }
        let offsets = column("offset_ns")
        let first = offsets.compactMap { $0 }.first ?? 0
        html += SVGChart.render(title: "Offset over time (relative to the first sample)", xLabel: "time since the first sample (s)",
                                yLabel: "offset − \(String(format: "%.3f", first / 1e6)) ms (µs)", series: [
            ChartSeries(name: "measured", points: pairs(offsets.map { $0.map { $0 - first } }, 1e-3, false), style: .points, colour: "#94a3b8"),
            ChartSeries(name: "live estimate", points: pairs(column("live_offset_ns").map { $0.map { $0 - first } }, 1e-3, false),
                        style: .line, colour: colour),
        ])
        let bounds = pairs(column("bound_ns"), 1e-3, true)
        html += SVGChart.render(title: "Time error of the fit and its bound", xLabel: "time since the first sample (s)", yLabel: "µs", series: [
            ChartSeries(name: "residual", points: pairs(column("residual_ns"), 1e-3, true), style: .points, colour: colour),
            ChartSeries(name: "+ bound", points: bounds, style: .line, colour: "#64748b"),
            ChartSeries(name: "− bound", points: bounds.map { ($0.x, -$0.y) }, style: .line, colour: "#64748b"),
        ])
        html += SVGChart.render(title: "Uncertainty of the live estimate over time", xLabel: "time since the first sample (s)", yLabel: "µs",
                                series: [ChartSeries(name: "uncertainty", points: pairs(column("live_uncertainty_ns"), 1e-3, false),
                                                     style: .line, colour: colour)])
        html += SVGChart.histogram(title: "Round-trip delay (used samples)", xLabel: "delay (µs)",
                                   values: pairs(column("delay_ns"), 1e-3, true).map(\.y))
        let stability = device["stability"]
        let curve = { (name: String) -> [(x: Double, y: Double)] in
            (stability?[name]?.arrayValue ?? []).compactMap { p in p["tau_s"]?.doubleValue.flatMap { x in p["value"]?.doubleValue.map { (x, $0) } } }
        }
        html += SVGChart.render(title: "Allan deviation of the residuals", xLabel: "τ (s)", yLabel: "ADEV",
                                series: [ChartSeries(name: "ADEV", points: curve("adev"), style: .line, colour: colour)], logX: true, logY: true)
        html += SVGChart.render(title: "TDEV and MTIE of the residuals", xLabel: "τ (s)", yLabel: "ns", series: [
            ChartSeries(name: "TDEV", points: curve("tdev_ns"), style: .line, colour: colour),
            ChartSeries(name: "MTIE", points: curve("mtie_ns"), style: .dashed, colour: "#c2410c"),
        ], logX: true, logY: true)
        let segments = device["segments"]?.arrayValue ?? []
        html += "<h3>Segments</h3>" + table(["From (s)", "To (s)", "Offset", "Skew (ppm)", "Uncertainty", "Samples"], segments.map { s in
            [seconds(s["from_hub_ns"], origin), seconds(s["to_hub_ns"], origin), nanos(s["offset_ns"]), text(s["skew_ppm"]),
             nanos(s["uncertainty_ns"]), text(s["samples"])]
        }, className: "segments")
        return html + "</section>\n"
    }

    static func integritySection(_ report: JSONValue) -> String {
        let integrity = report["integrity"]
        var html = "<section id=\"integrity\"><h2>Data integrity</h2>"
        html += table(["Frames", "Payload", "Frames missing", "CRC failures", "Data errors"], [[
            text(integrity?["frames"]), bytes(integrity?["payload_bytes"]), text(integrity?["frames_missing"]), text(integrity?["crc_failures"]),
            text(integrity?["data_errors"]),
        ]], className: "integrity")
        html += table(["Device", "Stream", "Kind", "Frames", "Announced", "Missing", "Payload"], (integrity?["streams"]?.arrayValue ?? []).map { s in
            [text(s["device_id"]), text(s["stream_id"]), text(s["kind"]), text(s["frames"]), text(s["frames_announced"]),
             text(s["frames_missing"]), bytes(s["payload_bytes"])]
        }, className: "streams")
        let problems = report["problems"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !problems.isEmpty { html += "<ul class=\"problems\">" + problems.map { "<li>\(SVGChart.escape($0))</li>" }.joined() + "</ul>" }
        return html + "</section>\n"
    }

    static func markersSection(_ report: JSONValue) -> String {
        let markers = report["markers"]?.arrayValue ?? []
        let start = report["start_hub_ns"]?.intValue ?? 0
        var html = "<section id=\"markers\"><h2>Markers (\(markers.count))</h2>"
        html += table(["Time since start (s)", "Label", "From"], markers.prefix(500).map { m in
            [seconds(m["hub_ns"], start), text(m["label"]), m["device_id"]?.stringValue ?? "operator"]
        }, className: "markers")
        return html + (markers.count > 500 ? "<p>(first 500 shown; all are in report.json)</p>" : "") + "</section>\n"
    }

    static func table(_ header: [String], _ rows: [[String]], className: String) -> String {
        let head = header.allSatisfy(\.isEmpty) ? "" : "<thead><tr>" + header.map { "<th>\(SVGChart.escape($0))</th>" }.joined() + "</tr></thead>"
        let body = rows.map { "<tr>" + $0.map { "<td>\(SVGChart.escape($0))</td>" }.joined() + "</tr>" }.joined()
        return "<div class=\"scroll\"><table class=\"\(className)\">\(head)<tbody>\(body)</tbody></table></div>"
    }

    static func text(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s)?: s.isEmpty ? "–" : s
        case .int(let i)?: String(i)
        case .double(let d)?: String(d)
        case .bool(let b)?: b ? "yes" : "no"
        default: "–"
        }
    }

    static func nanos(_ value: JSONValue?) -> String {
        guard let ns = value?.doubleValue else { return "–" }
        let magnitude = abs(ns)
        if magnitude >= 1e9 { return String(format: "%.3f s", ns / 1e9) }
        if magnitude >= 1e6 { return String(format: "%.3f ms", ns / 1e6) }
        if magnitude >= 1e3 { return String(format: "%.1f µs", ns / 1e3) }
        return String(format: "%.0f ns", ns)
    }

    static func bytes(_ value: JSONValue?) -> String {
        guard let b = value?.doubleValue else { return "–" }
        return b >= 1e9 ? String(format: "%.2f GB", b / 1e9) : b >= 1e6 ? String(format: "%.1f MB", b / 1e6) : String(format: "%.0f B", b)
    }

    static func seconds(_ value: JSONValue?, _ origin: Int64) -> String {
        value?.intValue.map { String(format: "%.3f", max(0, Double($0 - origin) / 1e9)) } ?? "–"
    }

    static let style = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;max-width:1100px;margin:0 auto;padding:0 16px 32px}
        h1{font-size:1.5em;margin:.6em 0 0}h2{font-size:1.2em;border-bottom:1px solid #d0d4da;padding-bottom:.2em;margin-top:1.6em}
        h3{font-size:1em}.id{font-family:ui-monospace,monospace;color:#57606a;margin:.2em 0}
        .verdict{font-size:1.1em}.verdict.pass strong{color:#15803d}.verdict.fail strong{color:#b91c1c}.verdict.unknown strong{color:#a16207}
        .headline{font-size:1.05em;background:#f3f6fa;border-left:4px solid #1f4e9d;padding:.5em .8em}
        .scroll{overflow-x:auto}table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
        th,td{border-bottom:1px solid #e5e7eb;padding:.3em .6em;text-align:left;white-space:nowrap}th{color:#57606a}
        table.facts td:first-child{color:#57606a}figure.chart{margin:.6em 0;break-inside:avoid}
        figure.chart svg{width:100%;max-width:680px;height:auto;display:block}
        .frame{fill:none;stroke:#9ca3af}.grid{stroke:#eef0f3}.ct{font-size:13px;font-weight:600}
        .tx{font-size:11px;text-anchor:middle;fill:#57606a}.ty{font-size:11px;text-anchor:end;fill:#57606a}.lg{font-size:11px}
        @media print{body{max-width:none}section{break-inside:avoid-page}.scroll{overflow:visible}}
        """
}
