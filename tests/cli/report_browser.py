#!/usr/bin/env python3
"""Opens an HTML report in headless Chromium and checks it the way a
reader would see it.

    report_browser.py REPORT.html REPORT.json SCREENSHOT.png

Chromium is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: commands on its fd 3, replies on its fd 4, each
message JSON ended by a NUL), so nothing but the standard library and
PIL is needed. It fails (exit 1, one line per problem) when:
  - the page logs anything to the console, throws, or fails to load a
    resource (Runtime.consoleAPICalled, Runtime.exceptionThrown,
    Log.entryAdded: the report has no script and no external asset, so
    any of these is a defect);
  - the full-page screenshot is blank: fewer than 2% of its pixels differ
    from the background, or fewer than 3 colours appear;
  - a number the browser shows (every element with data-value, read from
    the rendered DOM) differs from the JSON report's, or a JSON number the
    page should show is missing from it.
"""
import base64
import io
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

from PIL import Image

TIMEOUT = 60


class Browser:
    def __init__(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            sys.exit("report_browser: chromium is not installed")
        self.profile = tempfile.mkdtemp(prefix="kz-chromium-")
        cmd_r, self.cmd_w = os.pipe()
        self.resp_r, resp_w = os.pipe()

        def child_fds():
            os.dup2(cmd_r, 3)
            os.dup2(resp_w, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
             "--user-data-dir=" + self.profile, "--window-size=1200,900", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, pass_fds=(3, 4))
        os.close(cmd_r)
        os.close(resp_w)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.resp_r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.resp_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            m = self._read_message(deadline)
            if m is None:
                raise RuntimeError(f"no answer to {method} in {TIMEOUT} s")
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, seconds):
        deadline = time.monotonic() + seconds
        while True:
            for e in self.events:
                if e.get("method") == method:
                    return e
            m = self._read_message(deadline)
            if m is None:
                return None
            self.events.append(m)

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        while (m := self._read_message(deadline)) is not None:
            self.events.append(m)

    def close(self):
        try:
            self.send("Browser.close")
        except RuntimeError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def open_page(html):
    """Loads the page; returns (console problems, data-value elements, PNG bytes)."""
    b = Browser()
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            b.send(domain + ".enable", session=s)
        b.events.clear()  # what about:blank said is not the report's
        b.send("Page.navigate", {"url": "file://" + os.path.abspath(html)}, session=s)
        if b.wait_event("Page.loadEventFired", TIMEOUT) is None:
            raise RuntimeError("the page did not finish loading")
        b.drain(0.5)  # late messages: a failed load is logged after the event
        problems = []
        for e in b.events:
            p, m = e.get("params", {}), e.get("method")
            if m == "Runtime.consoleAPICalled":
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                problems.append(f"console.{p.get('type')}: {args}")
            elif m == "Runtime.exceptionThrown":
                problems.append("exception: " + p["exceptionDetails"].get("text", ""))
            elif m == "Log.entryAdded":
                entry = p["entry"]
                problems.append(f"{entry.get('level')} ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
        js = ("JSON.stringify([...document.querySelectorAll('[data-value]')].map(e => ({"
              "data: Object.assign({}, e.dataset), text: e.textContent,"
              "row: e.closest('[data-account],[data-tag]') ? Object.assign({}, e.closest('[data-account],[data-tag]').dataset) : {}})))")
        values = json.loads(b.send("Runtime.evaluate", {"expression": js, "returnByValue": True},
                                   session=s)["result"]["value"])
        size = b.send("Page.getLayoutMetrics", session=s)["cssContentSize"]
        shot = b.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}, session=s)
        return problems, values, base64.b64decode(shot["data"])
    finally:
        b.close()


def blank(png):
    """Why the screenshot is blank, or None."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = img.size
    if w < 200 or h < 200:
        return f"the screenshot is {w}x{h}"
    bg = img.getpixel((0, 0))
    colours = img.getcolors(maxcolors=1 << 16)
    if colours is not None and len(colours) < 3:
        return f"the screenshot has {len(colours)} colours"
    inked = sum(n for n, c in (colours or img.getcolors(maxcolors=w * h)) if c != bg)
    if inked < 0.02 * w * h:
        return f"only {inked} of {w * h} pixels differ from the background"
    return None


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def expected_numbers(report):
    """(place, key) -> the JSON's number, for everything the page shows."""
    want = {}
    for k, v in report["kpis"].items():
        want[("kpi", "all", k)] = v
    for g in report["groups"]:
        for k, v in g["kpis"].items():
            want[("kpi", g["name"], k)] = v
    for row in report["health"]:
        want[("chart", "health_end", row["name"])] = row["end"]
    for row in report["phases"]:
        want[("chart", "phases", row["name"])] = row["accounts"]
    for row in report["touches_by_channel"]:
        want[("chart", "touches", row["name"])] = row["written"]
    for m in report["months"]:
        for k in ("grr", "nrr"):
            if m[k] is not None:
                want[("month", m["name"], k)] = m[k]
    for a in report["at_risk"]:
        for f in ("score", "arr"):
            want[("at_risk", a["id"], f)] = a[f]
    for f in report["feature_requests"]:
        for k in ("requests", "accounts", "arr"):
            want[("feature", f["name"], k)] = f[k]
    return want


def place_of(item):
    d, row = item["data"], item["row"]
    if "chart" in d:
        return ("chart", d["chart"], d["key"])
    if "month" in d:
        return ("month", d["month"], d["kpi"])
    if "account" in row:
        return ("at_risk", row["account"], d["field"])
    if "tag" in row:
        return ("feature", row["tag"], d["field"])
    if "group" in d:
        return ("kpi", d["group"], d["kpi"])
    if "kpi" in d:
        return ("tile", "all", d["kpi"])
    return ("unknown", json.dumps(d), "")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    html, report_json, screenshot = sys.argv[1:]
    with open(report_json, encoding="utf-8") as f:
        report = json.load(f)
    console, values, png = open_page(html)
    with open(screenshot, "wb") as f:
        f.write(png)
    problems = list(console)
    why = blank(png)
    if why:
        problems.append("blank: " + why)

    want = expected_numbers(report)
    seen = set()
    for item in values:
        place = place_of(item)
        raw = item["data"]["value"]
        shown = None if raw == "" else float(raw)
        key = place if place[0] != "tile" else ("kpi", "all", place[2])
        if place[0] == "chart" and place[1] == "health_start":
            key = None
            row = next((r for r in report["health"] if r["name"] == place[2]), None)
            if row is None or not same(shown, row["start"]):
                problems.append(f"health at the start, {place[2]}: page {shown}, JSON {row and row['start']}")
            continue
        if key not in want:
            problems.append(f"the page shows {place} = {shown}, which the JSON report has not")
            continue
        seen.add(key)
        if not same(shown, want[key]):
            problems.append(f"{place}: page {shown}, JSON {want[key]} ({item['text'].strip()!r})")
    for key in sorted(set(want) - seen, key=str):
        problems.append(f"{key} = {want[key]} is in the JSON report but not on the page")

    for p in problems:
        print(p)
    print(f"{len(values)} numbers on the page, {len(want)} in the JSON report, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
