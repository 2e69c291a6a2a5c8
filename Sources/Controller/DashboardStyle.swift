// The dashboard's style sheet: system fonts, readable on a laptop and a tablet (tables scroll
// sideways on narrow screens), state colours that also differ in text for colour-blind readers.
extension Dashboard {
    static let style = #"""
        :root { --ok: #1b7f3b; --warn: #b26a00; --bad: #b3261e; --idle: #6b7280; --line: #d0d4da; --bg: #f7f8fa; }
        * { box-sizing: border-box; }
        [hidden] { display: none !important; }
        body { margin: 0; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: var(--bg); }
        header { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: baseline; padding: 0.8em 1.2em; background: #fff;
                 border-bottom: 1px solid var(--line); }
        h1 { font-size: 1.3em; margin: 0; }
        h2 { font-size: 1.05em; margin: 0 0 0.6em; }
        main { padding: 1em 1.2em; display: grid; gap: 1em; }
        section { min-width: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 0.9em 1em; }
        .muted { color: var(--idle); }
        .small { font-size: 0.85em; }
        .badge { padding: 0.1em 0.6em; border-radius: 1em; background: #e5e7eb; font-size: 0.85em; }
        .badge.ok { background: #dcfce7; color: var(--ok); }
        .badge.warn { background: #fef3c7; color: var(--warn); }
        .badge.rec { background: var(--bad); color: #fff; font-weight: 600; }
        #message { margin: 0.8em 1.2em 0; padding: 0.6em 0.9em; border-radius: 6px; }
        #message.error { background: #fde8e7; color: var(--bad); }
        #message.info { background: #e8f1fd; color: #174ea6; }
        #token-panel { margin: 0.8em 1.2em 0; display: flex; flex-wrap: wrap; gap: 0.6em; align-items: center; }
        .fields { display: flex; flex-wrap: wrap; gap: 0.6em 1em; margin: 0.6em 0; }
        .fields label { display: flex; flex-direction: column; font-size: 0.85em; color: #4b5563; }
        .fields label.wide { flex: 1 1 20em; }
        input { font: inherit; padding: 0.35em 0.5em; border: 1px solid var(--line); border-radius: 6px; }
        .buttons { display: flex; flex-wrap: wrap; gap: 0.6em; align-items: center; }
        .marker-box { display: inline-flex; gap: 0.4em; }
        button { font: inherit; padding: 0.45em 1em; border-radius: 6px; border: 1px solid #9ca3af; background: #fff; cursor: pointer;
                 min-height: 2.4em; }
        button.go { background: var(--ok); border-color: var(--ok); color: #fff; }
        button.halt { background: var(--bad); border-color: var(--bad); color: #fff; }
        button:disabled { opacity: 0.45; cursor: default; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
        th, td { text-align: left; padding: 0.35em 0.6em; border-bottom: 1px solid #eceef1; white-space: nowrap; }
        th { font-weight: 600; color: #4b5563; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        td.id { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
        td.state::before { content: "●"; margin-right: 0.35em; }
        tr.health-in_sync td.state { color: var(--ok); }
        tr.health-degraded td.state { color: var(--warn); }
        tr.health-lost td.state { color: var(--bad); font-weight: 600; }
        tr.health-left td.state { color: var(--idle); }
        td.error-text { color: var(--bad); white-space: normal; max-width: 22em; }
        td.status-complete { color: var(--ok); }
        td.status-incomplete, td.status-recovered { color: var(--warn); }
        svg.spark { width: 120px; height: 28px; display: block; }
        svg.spark polyline { fill: none; stroke: #2563eb; stroke-width: 1.5; }
        footer { padding: 0 1.2em 1.2em; }
        @media (min-width: 1000px) { main { grid-template-columns: 24em 1fr; } #device-panel { grid-column: 1 / -1; } }
        @media print { button, input, #token-panel { display: none; } section { border: none; } }
        """#
}
