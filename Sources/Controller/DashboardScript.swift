// The dashboard's script: renders the event stream's snapshots (status and devices, every second),
// keeps a short history per device for the sparklines, and drives the session actions through the
// API. Every value from the hub is written with textContent, never parsed as HTML.
extension Dashboard {
    static let script = #"""
        "use strict";
        const HISTORY = 90;
        const state = { token: localStorage.getItem("lockstep-token") || "", history: {}, required: new Set(),
                        snapshot: null, sessionsShownFor: null, recording: false };
        const $ = (id) => document.getElementById(id);

        function headers(extra) {
          const h = Object.assign({}, extra || {});
          if (state.token) h["Authorization"] = "Bearer " + state.token;
          return h;
        }

        async function api(method, path, body) {
          const init = { method, headers: headers(method === "POST" ? { "Content-Type": "application/json" } : {}) };
          if (method === "POST") init.body = JSON.stringify(body || {});
          const response = await fetch("/api/v1/" + path, init);
          const text = await response.text();
          let json = null;
          try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
          if (response.status === 401 || response.status === 403) needToken(response.status);
          if (!response.ok) {
            const message = json && json.error ? json.error.code + ": " + json.error.message : "HTTP " + response.status;
            throw new Error(message);
          }
          return json;
        }

        function needToken(status) {
          $("token-panel").hidden = false;
          show(status === 401 ? "This hub needs its operator token." : "The operator token was refused.", true);
        }

        function show(text, isError) {
          const box = $("message");
          box.textContent = text;
          box.className = isError ? "error" : "info";
          box.hidden = !text;
        }

        function mb(bytes) {
          if (bytes === null || bytes === undefined) return "–";
          if (bytes >= 1e9) return (bytes / 1e9).toFixed(2) + " GB";
          if (bytes >= 1e6) return (bytes / 1e6).toFixed(1) + " MB";
          if (bytes >= 1e3) return (bytes / 1e3).toFixed(1) + " kB";
          return bytes + " B";
        }

        function micros(ns) {
          if (ns === null || ns === undefined) return "–";
          const us = ns / 1000;
          return Math.abs(us) >= 1000 ? (us / 1000).toFixed(3) + " ms" : us.toFixed(1) + " µs";
        }

        function duration(seconds) {
          if (seconds === null || seconds === undefined) return "–";
          if (seconds >= 86400) return (seconds / 86400).toFixed(1) + " days";
          if (seconds >= 3600) return (seconds / 3600).toFixed(1) + " h";
          if (seconds >= 60) return Math.round(seconds / 60) + " min";
          return Math.round(seconds) + " s";
        }

        function cell(row, text, className) {
          const td = document.createElement("td");
          setText(td, text);
          if (className) td.className = className;
          row.appendChild(td);
          return td;
        }

        function setText(node, text) {
          const value = text === null || text === undefined ? "–" : String(text);
          if (node.textContent !== value) node.textContent = value;
        }

        function sparkline(values, label) {
          const ns = "http://www.w3.org/2000/svg";
          const svg = document.createElementNS(ns, "svg");
          svg.setAttribute("viewBox", "0 0 120 28");
          svg.setAttribute("class", "spark");
          svg.setAttribute("role", "img");
          svg.setAttribute("aria-label", label);
          const points = values.filter((v) => v !== null && Number.isFinite(v));
          if (points.length >= 2) {
            let low = Math.min(...points), high = Math.max(...points);
            if (high - low < 1e-9) { low -= 1; high += 1; }
            const step = 120 / (values.length - 1);
            const coords = [];
            values.forEach((v, i) => {
              if (v === null || !Number.isFinite(v)) return;
              coords.push((i * step).toFixed(1) + "," + (26 - ((v - low) / (high - low)) * 24).toFixed(1));
            });
            const line = document.createElementNS(ns, "polyline");
            line.setAttribute("points", coords.join(" "));
            svg.appendChild(line);
          }
          return svg;
        }

        function remember(device) {
          const h = state.history[device.device_id] || (state.history[device.device_id] = { offset: [], rate: [] });
          h.offset.push(device.clock ? device.clock.offset_ns / 1000 : null);
          h.rate.push(device.throughput_bytes_per_s === null ? null : device.throughput_bytes_per_s / 1e6);
          if (h.offset.length > HISTORY) h.offset.shift();
          if (h.rate.length > HISTORY) h.rate.shift();
          return h;
        }

        const COLUMNS = 14;

        function deviceRow(id) {
          let row = document.querySelector(`#devices tbody tr[data-device="${CSS.escape(id)}"]`);
          if (row) return row;
          row = document.createElement("tr");
          row.dataset.device = id;
          const box = document.createElement("input");
          box.type = "checkbox";
          box.setAttribute("aria-label", "require " + id);
          box.addEventListener("change", () => box.checked ? state.required.add(id) : state.required.delete(id));
          cell(row, "").appendChild(box);
          for (let i = 1; i < COLUMNS; i++) cell(row, "");
          row.children[1].className = "id";
          row.children[2].className = "state";
          for (const i of [3, 4, 7, 9, 10, 11, 12]) row.children[i].className = "num";
          row.children[13].className = "error-text";
          $("devices").tBodies[0].appendChild(row);
          return row;
        }

        // Rows are updated in place (never rebuilt), so a click on a "required" box is never lost.
        function renderDevices(devices) {
          for (const d of devices) {
            const h = remember(d);
            const row = deviceRow(d.device_id);
            const td = row.children;
            row.className = "health-" + d.health;
            setText(td[1], d.device_id + (d.model ? " (" + d.model + ")" : ""));
            setText(td[2], d.health.replace("_", " "));
            td[2].title = d.health_reason || "";
            const c = d.clock;
            setText(td[3], c ? micros(c.offset_ns) + " ± " + micros(c.uncertainty_ns) : null);
            setText(td[4], c && typeof c.skew_ppm === "number" ? c.skew_ppm.toFixed(3) : null);
            setText(td[5], c ? c.timestamp_source : null);
            td[6].replaceChildren(sparkline(h.offset, "offset of " + d.device_id + " (µs)"));
            setText(td[7], d.throughput_bytes_per_s === null ? null : mb(d.throughput_bytes_per_s) + "/s");
            td[8].replaceChildren(sparkline(h.rate, "throughput of " + d.device_id + " (MB/s)"));
            setText(td[9], d.backlog_frames);
            setText(td[10], typeof d.battery_pct === "number" ? Math.round(d.battery_pct) + " %" : null);
            setText(td[11], d.storage_free_bytes === null ? null : mb(d.storage_free_bytes));
            setText(td[12], typeof d.temperature_c === "number" ? d.temperature_c.toFixed(1) + " °C" : null);
            setText(td[13], d.last_error);
          }
          const live = devices.filter((d) => d.state === "connected").length;
          setText($("device-count"), live + " connected of " + devices.length);
        }

        function renderStatus(status) {
          $("hub-id").textContent = status.hub_id;
          $("version").textContent = status.software_version;
          $("ts-source").textContent = status.timestamp_source;
          $("engine").textContent = status.ingest ? status.ingest.engine : "–";
          const disk = status.disk;
          $("disk").textContent = disk ? "disk: " + mb(disk.free_bytes) + " free" +
            (disk.seconds_left !== null ? " · " + duration(disk.seconds_left) + " left at " + mb(disk.write_bytes_per_s) + "/s" : "") : "";
          const session = status.session;
          const recording = !!session;
          $("recording").textContent = recording ? "recording" : "idle";
          $("recording").className = "badge " + (recording ? "rec" : "");
          $("start").disabled = recording;
          $("stop").disabled = !recording;
          $("add-marker").disabled = !recording;
          const current = $("current-session");
          if (recording) {
            const seconds = Math.max(0, (status.hub_time_ns - session.start_hub_ns) / 1e9);
            current.textContent = session.session_id + " · " + (seconds > 0 ? duration(seconds) : "starting") + " · " +
              session.frames + " frames · " + mb(session.payload_bytes) + " · " + session.markers + " markers";
            current.dataset.session = session.session_id;
          } else {
            current.textContent = "No session is recording.";
            delete current.dataset.session;
          }
          if (state.recording !== recording || state.sessionsShownFor === null) refreshSessions();
          if (!recording && state.recording) $("markers").replaceChildren();
          state.recording = recording;
        }

        async function refreshSessions() {
          state.sessionsShownFor = Date.now();
          try {
            const list = await api("GET", "sessions");
            const body = $("sessions").tBodies[0];
            body.replaceChildren();
            for (const s of list.sessions) {
              const row = document.createElement("tr");
              row.dataset.session = s.session_id;
              cell(row, s.session_id, "id");
              cell(row, s.name || "");
              cell(row, s.participant || "");
              cell(row, s.status, "status-" + s.status);
              cell(row, s.totals ? s.totals.frames : null, "num");
              cell(row, s.totals ? mb(s.totals.payload_bytes) : null, "num");
              cell(row, s.markers, "num");
              const files = cell(row, "");
              if (s.report_available) {
                files.appendChild(link("report", "sessions/" + s.session_id + "/report?format=html", "report-link"));
                files.appendChild(document.createTextNode(" "));
                files.appendChild(link("json", "sessions/" + s.session_id + "/report", "report-json-link"));
              }
              files.appendChild(document.createTextNode(" "));
              files.appendChild(link("manifest", "sessions/" + s.session_id + "/manifest", "manifest-link"));
              body.appendChild(row);
            }
          } catch (e) { show("sessions: " + e.message, true); }
        }

        function link(text, path, className) {
          const a = document.createElement("a");
          a.textContent = text;
          a.href = "/api/v1/" + path;
          a.className = className;
          a.addEventListener("click", async (event) => {
            if (!state.token) return;
            event.preventDefault();
            const response = await fetch(a.href, { headers: headers() });
            if (!response.ok) { show(text + ": HTTP " + response.status, true); return; }
            const url = URL.createObjectURL(await response.blob());
            window.open(url, "_blank");
            setTimeout(() => URL.revokeObjectURL(url), 60000);
          });
          return a;
        }

        function addMarkerLine(marker) {
          const item = document.createElement("li");
          item.textContent = (marker.source === "device" ? marker.device_id + ": " : "operator: ") + marker.label;
          $("markers").appendChild(item);
          while ($("markers").children.length > 30) $("markers").firstElementChild.remove();
        }

        async function follow() {
          for (;;) {
            try {
              const response = await fetch("/api/v1/events", { headers: headers({ Accept: "text/event-stream" }) });
              if (response.status === 401 || response.status === 403) { needToken(response.status); await sleep(3000); continue; }
              if (!response.ok || !response.body) throw new Error("event stream: HTTP " + response.status);
              $("connection").textContent = "live";
              $("connection").className = "badge ok";
              const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
              let buffer = "";
              try {
                for (;;) {
                  const { value, done } = await reader.read();
                  if (done) break;
                  buffer += value;
                  let end;
                  while ((end = buffer.indexOf("\n\n")) >= 0) {
                    const block = buffer.slice(0, end);
                    buffer = buffer.slice(end + 2);
                    try { dispatch(block); } catch (e) { console.error("event", e); }
                  }
                }
              } finally {
                reader.cancel().catch(() => {});
              }
            } catch (e) { /* the hub restarted or the network dropped: try again */ }
            $("connection").textContent = "reconnecting…";
            $("connection").className = "badge warn";
            await sleep(2000);
          }
        }

        function dispatch(block) {
          let name = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (!data) return;
          const payload = JSON.parse(data);
          if (name === "snapshot") {
            state.snapshot = payload;
            renderStatus(payload.status);
            renderDevices(payload.devices);
          } else if (name === "marker") {
            addMarkerLine(payload);
          } else if (name === "session") {
            refreshSessions();
          }
        }

        const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

        async function act(button, work) {
          button.disabled = true;
          try { await work(); } catch (e) { show(e.message, true); button.disabled = false; }
        }

        document.addEventListener("DOMContentLoaded", () => {
          $("token").value = state.token;
          $("save-token").addEventListener("click", () => {
            state.token = $("token").value.trim();
            localStorage.setItem("lockstep-token", state.token);
            $("token-panel").hidden = true;
            show("", false);
            refreshSessions();
          });
          $("start").addEventListener("click", () => act($("start"), async () => {
            const body = { name: $("session-name").value, participant: $("session-participant").value,
                           notes: $("session-notes").value, required_devices: Array.from(state.required) };
            show("Starting: waiting for every device's clock estimate…", false);
            const session = await api("POST", "sessions", body);
            show("Recording " + session.session_id + " with " + session.devices.length + " device(s).", false);
          }));
          $("stop").addEventListener("click", () => act($("stop"), async () => {
            show("Stopping: waiting until every frame is on disk…", false);
            const session = await api("POST", "sessions/current/stop");
            show("Stopped " + session.session_id + ": " + session.status + ", " + session.frames + " frames" +
              (session.problems.length ? " · problems: " + session.problems.join("; ") : ""), session.status !== "complete");
            refreshSessions();
          }));
          $("add-marker").addEventListener("click", () => act($("add-marker"), async () => {
            const label = $("marker-label").value.trim();
            if (!label) throw new Error("type a marker label first");
            await api("POST", "sessions/current/markers", { label });
            $("marker-label").value = "";
            $("add-marker").disabled = false;
          }));
          refreshSessions();
          follow();
        });
        """#
}
