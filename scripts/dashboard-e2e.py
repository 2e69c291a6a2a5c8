#!/usr/bin/env python3
"""Drives the dashboard in headless Chromium through chromedriver's W3C WebDriver API (plain HTTP,
no Selenium needed) against a running lockstepd with simulated devices, and checks the page against
the hub's API: the device table, a session started from the page with a required device, a marker,
the stop, the session list, and its report link followed to the HTML report. Saves screenshots of
the live page (laptop and tablet sizes), the final page and the report.

Usage: dashboard-e2e.py HUB_URL SCREENSHOT_DIR EXPECTED_DEVICES
Exit 0 when every check passes, 1 with the failed check named otherwise."""
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HUB, SHOTS, EXPECTED = sys.argv[1], sys.argv[2], int(sys.argv[3])
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def fail(message):
    print(f"dashboard-e2e: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def request(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        text = error.read()
        raise RuntimeError(f"{method} {url}: HTTP {error.code}: {text[:400]!r}") from None
    return json.loads(text) if text else None


def api(path):
    return request("GET", f"{HUB}/api/v1/{path}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self):
        self.port = free_port()
        self.driver = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                if request("GET", self.base + "/status")["value"]["ready"]:
                    break
            except (OSError, RuntimeError):
                pass
            time.sleep(0.1)
        options = {"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                            "--window-size=1440,1000", "--force-device-scale-factor=1"]}
        if os.path.exists("/usr/bin/chromium"):
            options["binary"] = "/usr/bin/chromium"
        capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        self.session = request("POST", self.base + "/session", capabilities)["value"]["sessionId"]
        self.url = f"{self.base}/session/{self.session}"

    def call(self, method, path, body=None):
        return request(method, self.url + path, body)["value"]

    def run(self, script, *args):
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def element(self, css):
        found = self.call("POST", "/element", {"using": "css selector", "value": css})
        if not isinstance(found, dict) or ELEMENT not in found:
            fail(f"no element {css}: {found}")
        return found[ELEMENT]

    def click(self, css):
        self.call("POST", f"/element/{self.element(css)}/click", {})

    def type(self, css, text):
        self.call("POST", f"/element/{self.element(css)}/value", {"text": text})

    def screenshot(self, path):
        with open(path, "wb") as file:
            file.write(base64.b64decode(self.call("GET", "/screenshot")))

    def wait(self, what, script, *args, seconds=30):
        deadline = time.monotonic() + seconds
        value = None
        while time.monotonic() < deadline:
            value = self.run(script, *args)
            if value:
                return value
            time.sleep(0.2)
        message = self.run("return document.getElementById('message').textContent")
        fail(f"{what} (last value: {value!r}); page message: {message!r}")

    def close(self):
        try:
            request("DELETE", self.url)
        finally:
            self.driver.kill()
            self.driver.wait()


def main():
    os.makedirs(SHOTS, exist_ok=True)
    browser = Browser()
    try:
        check(browser)
    finally:
        browser.close()
    print("dashboard-e2e: all checks passed")


def check(browser):
    browser.call("POST", "/url", {"url": HUB + "/"})
    rows = browser.wait(f"{EXPECTED} devices in sync in the table",
                        "const rows = [...document.querySelectorAll('#devices tbody tr.health-in_sync')];"
                        "return rows.length >= arguments[0] ? rows.map(r => r.dataset.device) : null;", EXPECTED)
    api_ids = sorted(d["device_id"] for d in api("devices")["devices"])
    if sorted(rows) != api_ids:
        fail(f"device table {sorted(rows)} differs from the API {api_ids}")
    if browser.run("return document.getElementById('connection').textContent") != "live":
        fail("the event stream is not live")

    # Start from the page, with the first device required.
    first = api_ids[0]
    browser.type("#session-name", "browser-test")
    browser.type("#session-participant", "P-42")
    browser.click(f"#devices tr[data-device='{first}'] input[type=checkbox]")
    browser.click("#start")
    session_id = browser.wait("the page shows the recording",
                              "const s = document.getElementById('current-session').dataset.session;"
                              "return document.getElementById('recording').textContent === 'recording' ? s : null;")
    current = api("status")["session"]
    if current is None or current["session_id"] != session_id or current["participant"] != "P-42":
        fail(f"the API's session {current} is not the page's {session_id}")

    # A marker from the page reaches the hub and comes back on the event stream.
    browser.type("#marker-label", "stimulus-1")
    browser.click("#add-marker")
    browser.wait("the marker in the page's list",
                 "return [...document.querySelectorAll('#markers li')].some(li => li.textContent === 'operator: stimulus-1');")
    browser.wait("throughput and sparklines for every device",
                 "const rows = [...document.querySelectorAll('#devices tbody tr')];"
                 "return rows.length > 0 && rows.every(r => r.children[7].textContent.endsWith('/s')"
                 "  && r.querySelectorAll('svg.spark polyline').length === 2);")
    time.sleep(2)
    browser.screenshot(os.path.join(SHOTS, "dashboard-recording.png"))
    # A tablet in portrait: the page must not scroll sideways (wide tables scroll inside their panel).
    browser.call("POST", "/window/rect", {"width": 820, "height": 1180})
    time.sleep(1)
    overflow = browser.run("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    if overflow > 0:
        fail(f"on a tablet-sized window the page is {overflow} px wider than the screen")
    browser.screenshot(os.path.join(SHOTS, "dashboard-tablet.png"))
    browser.call("POST", "/window/rect", {"width": 1440, "height": 1000})

    browser.click("#stop")
    browser.wait("the page shows the hub idle", "return document.getElementById('recording').textContent === 'idle';", seconds=40)
    link = browser.wait("a report link for the session",
                        "const a = document.querySelector(`#sessions tr[data-session='${arguments[0]}'] a.report-link`);"
                        "return a ? a.getAttribute('href') : null;", session_id)
    if link != f"/api/v1/sessions/{session_id}/report?format=html":
        fail(f"report link {link}")
    json_link = browser.run("const a = document.querySelector(`#sessions tr[data-session='${arguments[0]}'] a.report-json-link`);"
                            "return a ? a.getAttribute('href') : null;", session_id)
    report = request("GET", HUB + json_link)
    if report.get("format") != "lockstep-timing-report" or report.get("session_id") != session_id:
        fail(f"the JSON report link does not give the report: {str(report)[:200]}")

    # The session list shows what the API says, in the same order.
    page_sessions = browser.run("return [...document.querySelectorAll('#sessions tbody tr')].map(r => "
                                "[r.dataset.session, r.children[3].textContent, r.children[2].textContent]);")
    api_sessions = [[s["session_id"], s["status"], s.get("participant") or ""] for s in api("sessions")["sessions"]]
    if page_sessions != api_sessions:
        fail(f"session list {page_sessions} differs from the API {api_sessions}")
    detail = api(f"sessions/{session_id}")
    if detail["status"] != "complete":
        fail(f"session status {detail['status']}: {detail.get('problems')}")
    if not any(m.get("label") == "stimulus-1" and m.get("source") == "operator" for m in detail["marker_list"]):
        fail("the operator marker is not in the session's journal")
    browser.screenshot(os.path.join(SHOTS, "dashboard-stopped.png"))

    # Follow the report link in the browser: the HTML report of this session, with its verdict.
    browser.click(f"#sessions tr[data-session='{session_id}'] a.report-link")
    verdict = browser.wait("the HTML report opened from the link",
                           "const v = document.querySelector('#summary .verdict strong');"
                           "return document.title.startsWith('Timing report') && v ? v.textContent : null;")
    if verdict != report["verdict"]:
        fail(f"the HTML report says {verdict}, the JSON {report['verdict']}")
    charts = browser.run("return document.querySelectorAll('figure.chart svg').length;")
    if charts != 6 * len(api_ids):
        fail(f"{charts} charts in the HTML report, expected {6 * len(api_ids)}")
    browser.call("POST", "/window/rect", {"width": 1100, "height": 3000})
    browser.screenshot(os.path.join(SHOTS, "report.png"))


if __name__ == "__main__":
    main()
