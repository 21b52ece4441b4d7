#!/usr/bin/python3
"""Load the dashboard in headless Chromium and check what an operator sees.

Drives Debian's chromium over the DevTools protocol on a pipe
(--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4), so it needs
nothing beyond the Python standard library.  Fails when the page does not
render, when a plot has no data or draws nothing, or when anything reaches
the console as an error (exceptions, failed loads, console.error).

    dashboard_check.py URL TOKEN [--screenshot FILE] [--expect NAME=MIN ...]

URL is the dashboard's address (http://127.0.0.1:PORT/dashboard/); TOKEN
goes in the URL fragment, which the page moves to session storage.
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-pipe"]


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="sculpt-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():
            # via high numbers, so neither pipe end is clobbered on the way;
            # os.dup2 makes the copies inheritable
            os.dup2(to_chrome_r, 100)
            os.dup2(from_chrome_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)
            os.close(100)
            os.close(101)

        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + ["--user-data-dir=" + self.profile, "about:blank"],
            close_fds=False, preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def close(self):
        try:
            self.send("Browser.close", session=False, wait=False)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe (exit %s)" % self.proc.poll())
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True, wait=True, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        if not wait:
            return None
        deadline = time.time() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def pump(self, seconds):
        """Collect events for a while."""
        deadline = time.time() + seconds
        self.send("Runtime.evaluate", {"expression": "1"}, timeout=seconds + 5)
        while time.time() < deadline:
            time.sleep(0.05)
            self.send("Runtime.evaluate", {"expression": "1"})

    def evaluate(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError("evaluate %s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")


def console_errors(events):
    errors = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            errors.append("exception: %s %s" % (d.get("text"), d.get("exception", {})
                                                 .get("description", "")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append("console.%s: %s" % (p["type"], " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append("log: %s %s" % (p["entry"]["text"], p["entry"].get("url", "")))
    return errors


# Per uPlot canvas: how many pixels differ from the first one (the
# background); a plot that drew its series has thousands.
CANVAS_INK = """
Array.from(document.querySelectorAll('.uplot canvas')).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) ink++;
  return {plot: c.closest('.plot-row') ? c.closest('.plot-row').id : '?', ink: ink};
})
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("token")
    ap.add_argument("--screenshot")
    ap.add_argument("--expect", action="append", default=[],
                    help="NAME=MIN: window.sculptDashboard.plots[NAME] >= MIN")
    ap.add_argument("--timeout", type=float, default=40)
    args = ap.parse_args()

    b = Browser()
    failures = []
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"}, session=False)
        att = b.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                     session=False)
        b.session = att["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            b.send(domain + ".enable")
        b.send("Emulation.setDeviceMetricsOverride",
               {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        b.send("Page.navigate", {"url": args.url + "#token=" + args.token})
        deadline = time.time() + args.timeout
        status = None
        while time.time() < deadline:
            status = b.evaluate("window.sculptDashboard ? JSON.stringify(window.sculptDashboard)"
                                " : null")
            if status and json.loads(status).get("ready"):
                break
            time.sleep(0.2)
        if not status or not json.loads(status).get("ready"):
            failures.append("the dashboard never finished rendering: %s; page text: %s" % (
                status, b.evaluate("document.body ? document.body.innerText.slice(0, 400) : ''")))
        else:
            status = json.loads(status)
            print("dashboard status:", json.dumps(status))
            for exp in args.expect:
                name, _, least = exp.partition("=")
                got = status["plots"].get(name, 0)
                if got < float(least):
                    failures.append("plot %s shows %s data points, expected at least %s"
                                    % (name, got, least))
            if status["errors"]:
                failures.append("the page reported: %s" % status["errors"])
            ink = b.evaluate(CANVAS_INK)
            print("canvases:", json.dumps(ink))
            if not ink:
                failures.append("no plot canvas on the page")
            for c in ink:
                if c["ink"] < 500:
                    failures.append("a plot in #%s drew almost nothing (%d pixels)"
                                    % (c["plot"], c["ink"]))
            svg_marks = b.evaluate("document.querySelectorAll('#resource-bars rect,"
                                   " #reshape-timeline text[data-kind]').length")
            print("svg marks:", svg_marks)
        b.pump(1.0)
        errors = console_errors(b.events)
        for e in errors:
            failures.append("console error: " + e)
        if args.screenshot:
            h = b.evaluate("document.documentElement.scrollHeight") or 1000
            b.send("Emulation.setDeviceMetricsOverride",
                   {"width": 1400, "height": int(h), "deviceScaleFactor": 1, "mobile": False})
            time.sleep(0.3)
            shot = b.send("Page.captureScreenshot", {"format": "png"})
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print("screenshot:", args.screenshot)
    finally:
        b.close()
    for f in failures:
        print("FAILED:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
