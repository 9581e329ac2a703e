"""The app in a real browser: ``streamlit run streamlit_app.py`` driven by Playwright with Debian's
Chromium. Opens the page and checks what it draws: the frames with their landmarks, the attention map
and the attribution over the face, the decision and its bars; moves the α slider with the keyboard,
checks that the fused decision's text and bars follow, measures how long that takes, and saves
screenshots in the test's tmp_path.

Needs ``/usr/bin/chromium`` (``apt-get install -y --no-install-recommends chromium``; ``.ci/run``
installs it). Without it the test fails and says so; it is never skipped.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from staner_lab.app.paths import RUNS_ENV

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# In-page instrumentation: when each key went down, each message went out on the websocket, and (per
# slider step) when the new decision text and the new bars were first on screen; all performance.now().
INIT_SCRIPT = """
window.__keys = []; window.__sends = [];
document.addEventListener('keydown', () => window.__keys.push(performance.now()), true);
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) { window.__sends.push(performance.now()); return send.call(this, data); };
"""
WATCH = """([text, legend]) => {
  window.__text = null; window.__bars = null;
  const check = () => {
    const now = performance.now();
    if (window.__text === null && [...document.querySelectorAll('h3')].some(e => e.textContent.startsWith(text)))
      window.__text = now;
    if (window.__bars === null && [...document.querySelectorAll('.legendtext')].some(e => e.textContent === legend))
      window.__bars = now;
    if (window.__text === null || window.__bars === null) requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}"""
TIMES = """() => { const key = window.__keys.at(-1); const sent = window.__sends.find(t => t > key);
  return {key_to_send: sent - key, key_to_text: window.__text - key, key_to_bars: window.__bars - key}; }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """``streamlit run streamlit_app.py`` on a free port; stopped after the test."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; the browser test needs it. Install it with: "
                    "apt-get update && apt-get install -y --no-install-recommends chromium (CI does this in .ci/run)")
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    env = {**os.environ, RUNS_ENV: str(tmp_path / "runs")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def plotly_chart(page, title: str):
    """The Plotly chart whose title contains ``title``."""
    return page.locator(".stPlotlyChart").filter(has=page.locator(".gtitle", has_text=title))


def test_alpha_slider_in_chromium(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000})
        try:
            browser.add_init_script(INIT_SCRIPT)
            page = browser.new_page()
            page.goto(server, timeout=60_000)
            # Sequence tab (open first): the 5 source frames as one image, the 68 landmarks of every frame
            # drawn over them in four region colours, and the filmstrip of the region sequences.
            frames = plotly_chart(page, "Frames, 68 landmarks and region boxes")
            expect(frames).to_be_visible(timeout=180_000)  # first render: preprocessing, model, attributions
            expect(page.get_by_text(re.compile(r"^shipped sequence \S+ — 5 frames of 96×96 px; peak = frame 5"))) \
                .to_be_visible()
            expect(frames.locator(".imagelayer image")).to_have_count(1)
            expect(frames.locator(".scatterlayer path.point")).to_have_count(68 * 5)
            expect(frames.locator(".legendtext")).to_have_text(["jaw", "eyes", "nose", "mouth"])
            expect(plotly_chart(page, "What TLER reads").locator(".imagelayer image")).to_have_count(1)

            # Attention tab: M and the default attribution (Integrated Gradients) as heatmaps over the face,
            # and their agreement as a signed number.
            page.get_by_role("tab", name="Attention").click()
            attention = plotly_chart(page, "Attention map M over the peak face")
            attribution = plotly_chart(page, "Integrated gradients, P_G(")
            for chart in (attention, attribution):
                expect(chart).to_be_visible(timeout=60_000)
                expect(chart.locator(".imagelayer image")).to_have_count(1)  # the aligned peak face
                expect(chart.locator(".heatmaplayer image")).to_have_count(1)  # the map over it
            expect(page.get_by_test_id("stMetric")).to_have_text(
                re.compile(r"^Agreement with M \(Spearman ρ of M and \|attribution\|\)\s*[+-]\d\.\d\d$"))
            explained = re.search(r"P_G\((.+)\)", attribution.locator(".gtitle").text_content()).group(1)

            page.get_by_role("tab", name="Decision").click()
            heading = page.locator("h3", has_text=re.compile(r"^Fused decision: α = 0\.50 → "))
            expect(heading).to_be_visible(timeout=60_000)
            expect(page.locator(".legendtext", has_text="P: fused at α = 0.50")).to_have_count(1, timeout=30_000)
            first = heading.inner_text()
            decided = re.fullmatch(r"Fused decision: α = 0\.50 → (.+) \(P = (\d\.\d\d)\)", first)
            assert decided is not None, first
            assert explained == decided.group(1)  # the attribution explains the class decided at the model's α
            bars = plotly_chart(page, "The two branches' votes and the fused P")
            fused_before = bars.locator(".barlayer .trace.bars").nth(2).locator("text.bartext").all_text_contents()
            assert decided.group(2) in fused_before  # the decided class's fused bar carries the P of the heading
            page.screenshot(path=str(tmp_path / "decision_alpha_0.50.png"))

            thumb = page.get_by_role("slider", name=re.compile("^α, the weight of SGAER"))
            thumb.focus()
            rows, decisions = [], {}
            for step in range(1, 9):  # 0.55 ... 0.90, one key press each
                alpha = f"{0.5 + 0.05 * step:.2f}"
                page.evaluate(WATCH, [f"Fused decision: α = {alpha}", f"P: fused at α = {alpha}"])
                thumb.press("ArrowRight")
                page.wait_for_function("() => window.__text !== null && window.__bars !== null", timeout=30_000,
                                       polling=50)
                rows.append(page.evaluate(TIMES))
                decisions[alpha] = page.locator("h3", has_text="Fused decision").inner_text()
                server_ms = re.search(r"in (\d+) ms on the server", page.get_by_text("on the server").inner_text())
                rows[-1]["server"] = float(server_ms.group(1))
                page.wait_for_timeout(300)
            assert thumb.get_attribute("aria-valuetext") == "0.90"
            assert decisions["0.90"].startswith("Fused decision: α = 0.90 → ") and decisions["0.90"] != first
            # The bars were redrawn with the new α: three series (P_G, P_L, P) of one bar per class, the
            # fused one named after α, with new values, the decision in the title, and its P on its bar.
            expect(bars.locator(".legendtext")).to_have_text(
                ["P_G: SGAER (peak face)", "P_L: TLER (regions over time)", "P: fused at α = 0.90"])
            series = bars.locator(".barlayer .trace.bars")
            expect(series).to_have_count(3)
            for k in range(3):
                expect(series.nth(k).locator(".point")).to_have_count(7)  # the classroom model's 7 classes
            now = re.fullmatch(r"Fused decision: α = 0\.90 → (.+) \(P = (\d\.\d\d)\)", decisions["0.90"])
            assert now is not None, decisions["0.90"]
            expect(bars.locator(".gtitle")).to_have_text(re.compile(f"O = {re.escape(now.group(1))}$"))
            fused_after = series.nth(2).locator("text.bartext").all_text_contents()
            assert now.group(2) in fused_after and fused_after != fused_before
            page.screenshot(path=str(tmp_path / "decision_alpha_0.90.png"))
        finally:
            browser.close()

    summary = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    (tmp_path / "alpha_timing.json").write_text(json.dumps({"median_ms": summary, "steps": rows}, indent=1))
    print(f"α slider, median of {len(rows)} key presses (ms): {json.dumps({k: round(v) for k, v in summary.items()})}"
          f"; screenshots in {tmp_path}")
    # The requirement: the app answers an α change within 200 ms. The server-side part (the fragment:
    # Eq. 14 on cached probabilities and the new figure) is what the app controls; the browser's own
    # drawing depends on the machine (docs/app.md has the full breakdown).
    assert summary["server"] < 200, summary
