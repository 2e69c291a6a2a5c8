// Inline SVG charts for the HTML report: line/point charts on linear or log axes and a histogram.
// No script, no external resource; text is escaped; long series are thinned to at most
// `pointsMax` points per series, keeping each bucket's minimum and maximum so spikes stay visible.
import Foundation

struct ChartSeries {
    enum Style { case line, points, dashed }
    var name: String
    var points: [(x: Double, y: Double)]
    var style: Style
    var colour: String
}

enum SVGChart {
    static let width = 680.0
    static let height = 250.0
    static let left = 64.0, right = 16.0, top = 28.0, bottom = 40.0
    static let pointsMax = 1500
    static let palette = ["#1f4e9d", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0f766e", "#a16207", "#475569"]

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func number(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude == 0 { return "0" }
        if magnitude >= 1e5 || magnitude < 1e-3 { return String(format: "%.0e", value) }
        if magnitude >= 100 { return String(format: "%.0f", value) }
        if magnitude >= 1 { return String(format: "%.3g", value) }
        return String(format: "%.2g", value)
    }

    /// Thins a series to at most `pointsMax` points (min and max of each bucket, in x order).
    static func thin(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        guard points.count > pointsMax else { return points }
        let bucket = (points.count + pointsMax / 2 - 1) / (pointsMax / 2)
        var result: [(x: Double, y: Double)] = []
        for start in stride(from: 0, to: points.count, by: bucket) {
            let slice = points[start..<min(start + bucket, points.count)]
            let low = slice.min { $0.y < $1.y }!, high = slice.max { $0.y < $1.y }!
            result.append(contentsOf: low.x <= high.x ? [low, high] : [high, low])
        }
        return result
    }

    /// Five round tick values covering [low, high].
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        let span = max(high - low, 1e-12)
        let raw = span / 4
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var tick = (low / step).rounded(.down) * step
        var result: [Double] = []
        while tick <= high + step * 1e-9 {
            if tick >= low - step * 1e-9 { result.append(tick) }
            tick += step
        }
        return result
    }

    /// A chart of `series`; with `logX`/`logY` the axes are decades (non-positive values are dropped).
    static func render(title: String, xLabel: String, yLabel: String, series: [ChartSeries], logX: Bool = false, logY: Bool = false,
                       yRange: (Double, Double)? = nil) -> String {
        let transform = { (value: Double, log: Bool) -> Double? in log ? (value > 0 ? log10(value) : nil) : (value.isFinite ? value : nil) }
        let plotted = series.map { s in
            (s, thin(s.points.compactMap { p in transform(p.x, logX).flatMap { x in transform(p.y, logY).map { (x: x, y: $0) } } }))
        }
        let all = plotted.flatMap(\.1)
        var svg = "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
            + "role=\"img\" aria-label=\"\(escape(title))\"><title>\(escape(title))</title>"
        svg += "<text x=\"\(left)\" y=\"16\" class=\"ct\">\(escape(title))</text>"
        guard !all.isEmpty else { return svg + "<text x=\"\(left)\" y=\"120\">no data</text></svg></figure>" }
        var (x0, x1) = (all.map(\.x).min()!, all.map(\.x).max()!)
        var (y0, y1) = yRange.map { (transform($0.0, logY) ?? 0, transform($0.1, logY) ?? 1) } ?? (all.map(\.y).min()!, all.map(\.y).max()!)
        if logX { (x0, x1) = (x0.rounded(.down), max(x1.rounded(.up), x0.rounded(.down) + 1)) }
        if logY { (y0, y1) = (y0.rounded(.down), max(y1.rounded(.up), y0.rounded(.down) + 1)) }
        if x1 - x0 < 1e-12 { (x0, x1) = (x0 - 1, x1 + 1) }
        if y1 - y0 < 1e-12 { (y0, y1) = (y0 - 1, y1 + 1) }
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let px = { (x: Double) in left + (x - x0) / (x1 - x0) * plotWidth }
        let py = { (y: Double) in top + plotHeight - (y - y0) / (y1 - y0) * plotHeight }
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" class=\"frame\"/>"
        let xTicks = logX ? Array(stride(from: x0, through: x1, by: 1)) : ticks(x0, x1)
        let yTicks = logY ? Array(stride(from: y0, through: y1, by: 1)) : ticks(y0, y1)
        for tick in xTicks {
            let label = logX ? number(pow(10, tick)) : number(tick)
            svg += "<line x1=\"\(f(px(tick)))\" x2=\"\(f(px(tick)))\" y1=\"\(top)\" y2=\"\(top + plotHeight)\" class=\"grid\"/>"
            svg += "<text x=\"\(f(px(tick)))\" y=\"\(f(top + plotHeight + 14))\" class=\"tx\">\(label)</text>"
        }
        for tick in yTicks {
            let label = logY ? number(pow(10, tick)) : number(tick)
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotWidth)\" y1=\"\(f(py(tick)))\" y2=\"\(f(py(tick)))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(tick) + 4))\" class=\"ty\">\(label)</text>"
        }
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 6))\" class=\"tx\">\(escape(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" class=\"tx\">\(escape(yLabel))</text>"
        for (index, (s, points)) in plotted.enumerated() {
            let visible = points.filter { $0.y >= y0 - (y1 - y0) && $0.y <= y1 + (y1 - y0) }
            switch s.style {
            case .points:
                let dots = visible.map { "<circle cx=\"\(f(px($0.x)))\" cy=\"\(f(py($0.y)))\" r=\"1.6\"/>" }
                svg += "<g fill=\"\(s.colour)\">" + dots.joined() + "</g>"
            case .line, .dashed:
                let dash = s.style == .dashed ? " stroke-dasharray=\"4 3\"" : ""
                svg += "<polyline fill=\"none\" stroke=\"\(s.colour)\" stroke-width=\"1.4\"\(dash) points=\""
                    + visible.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ") + "\"/>"
            }
            let legendX = left + 8 + Double(index) * 150
            svg += "<rect x=\"\(f(legendX))\" y=\"\(top + 6)\" width=\"10\" height=\"10\" fill=\"\(s.colour)\"/>"
            svg += "<text x=\"\(f(legendX + 14))\" y=\"\(top + 15)\" class=\"lg\">\(escape(s.name))</text>"
        }
        return svg + "</svg></figure>"
    }

    /// A histogram of `values` in `bins` equal bins.
    static func histogram(title: String, xLabel: String, values: [Double], bins: Int = 40) -> String {
        guard let low = values.min(), let high = values.max() else {
            return render(title: title, xLabel: xLabel, yLabel: "samples", series: [])
        }
        let width = max((high - low) / Double(bins), 1e-9)
        var counts = [Double](repeating: 0, count: bins)
        for value in values { counts[min(bins - 1, Int((value - low) / width))] += 1 }
        var points: [(x: Double, y: Double)] = []
        for (index, count) in counts.enumerated() {
            let from = low + Double(index) * width
            points += [(from, 0), (from, count), (from + width, count), (from + width, 0)]
        }
        return render(title: title, xLabel: xLabel, yLabel: "samples", series: [ChartSeries(name: "samples", points: points, style: .line,
                                                                                              colour: palette[0])])
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
