"""The app in a real browser: ``streamlit run streamlit_app.py`` driven by Playwright with Debian's
Chromium. Opens the page and checks what it draws: the frames with their landmarks, the attention map
and the attribution over the face, the decision and its bars; moves the α slider with the keyboard,
checks that the fused decision's text and bars follow, measures how long that takes, and saves
screenshots in the test's tmp_path. Trains a classroom model, clicks "Use this model" and checks that
the sidebar and the Evaluation tab follow (a fragment's button: only a browser shows what it does).
Every request the pages make must stay on the machine (127.0.0.1, data:, blob:). First-render and
slider timings are printed (with the load average: the machine may be shared), not asserted.

Needs ``/usr/bin/chromium`` (``apt-get install -y --no-install-recommends chromium``; ``.ci/run``
installs it). Without it the test fails and says so; it is never skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
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


#: What a page may load: the app's own server, and data in the page itself.
LOCAL = re.compile(r"^((https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/|data:|blob:)")


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


@contextmanager
def chromium(tmp_path):
    """A Chromium context and the list of every URL its pages request."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000})
        urls: list[str] = []
        context.on("request", lambda request: urls.append(request.url))
        try:
            yield context, urls
        finally:
            context.close()


def offsite(urls: list[str]) -> list[str]:
    return sorted({u for u in urls if not LOCAL.match(u)})


def first_render(context, url: str) -> dict[str, float]:
    """Open a new page; seconds until the tabs and until the first figure (the frames) are on screen."""
    from playwright.sync_api import expect

    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url, timeout=60_000)
    expect(page.get_by_role("tab", name="Sequence")).to_be_visible(timeout=180_000)
    tabs = time.perf_counter() - t0
    expect(plotly_chart(page, "Frames, 68 landmarks and region boxes")).to_be_visible(timeout=180_000)
    return {"page": page, "tabs_s": tabs, "figure_s": time.perf_counter() - t0}


def _bench_class_load():
    spec = importlib.util.spec_from_file_location("bench_class_load", REPO / "benchmarks" / "bench_class_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server(tmp_path):
    """``streamlit run streamlit_app.py`` on a free port (``app_server`` of benchmarks/bench_class_load.py,
    runs under tmp_path/runs); stopped after the test."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; the browser test needs it. Install it with: "
                    "apt-get update && apt-get install -y --no-install-recommends chromium (CI does this in .ci/run)")
    with _bench_class_load().app_server(tmp_path) as (url, _pid):
        yield url + "/"
    text = (tmp_path / "streamlit.log").read_text()
    assert "Inotify" not in text and "Watchdog" not in text, text[-2000:]  # no file watcher


def shipped_alpha() -> float:
    """α (Eq. 14) of the shipped checkpoint, where the Decision tab's slider starts."""
    from staner_lab.data.shipped import shipped_checkpoint
    from staner_lab.training.checkpoint import load_model

    return load_model(shipped_checkpoint()).config.alpha


def plotly_chart(page, title: str):
    """The Plotly chart whose title contains ``title``."""
    return page.locator(".stPlotlyChart").filter(has=page.locator(".gtitle", has_text=title))


def test_alpha_slider_in_chromium(server, tmp_path):
    from playwright.sync_api import expect

    with chromium(tmp_path) as (browser, urls):
        browser.add_init_script(INIT_SCRIPT)
        # First render on a fresh server (imports, model, preprocessing), then a second browser tab.
        load_before = load()
        cold = first_render(browser, server)
        page = cold.pop("page")
        warm = first_render(browser, server)
        warm.pop("page").close()
        # Sequence tab (open first): the 5 source frames as one image, the 68 landmarks of every frame
        # drawn over them in four region colours, and the filmstrip of the region sequences.
        frames = plotly_chart(page, "Frames, 68 landmarks and region boxes")
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
        start = f"{shipped_alpha():.2f}"  # the slider starts at the model's own α
        heading = page.locator("h3", has_text=re.compile(rf"^Fused decision: α = {re.escape(start)} → "))
        expect(heading).to_be_visible(timeout=60_000)
        expect(page.locator(".legendtext", has_text=f"P: fused at α = {start}")).to_have_count(1, timeout=30_000)
        first = heading.inner_text()
        decided = re.fullmatch(rf"Fused decision: α = {re.escape(start)} → (.+) \(P = (\d\.\d\d)\)", first)
        assert decided is not None, first
        assert explained == decided.group(1)  # the attribution explains the class decided at the model's α
        bars = plotly_chart(page, "The two branches' votes and the fused P")
        fused_before = bars.locator(".barlayer .trace.bars").nth(2).locator("text.bartext").all_text_contents()
        assert decided.group(2) in fused_before  # the decided class's fused bar carries the P of the heading
        page.screenshot(path=str(tmp_path / f"decision_alpha_{start}.png"))

        thumb = page.get_by_role("slider", name=re.compile("^α, the weight of SGAER"))
        thumb.focus()
        rows, decisions = [], {}
        for step in range(1, 9):  # eight steps of 0.05 up from the model's α, one key press each
            alpha = f"{float(start) + 0.05 * step:.2f}"
            page.evaluate(WATCH, [f"Fused decision: α = {alpha}", f"P: fused at α = {alpha}"])
            thumb.press("ArrowRight")
            page.wait_for_function("() => window.__text !== null && window.__bars !== null", timeout=30_000,
                                   polling=50)
            rows.append(page.evaluate(TIMES))
            decisions[alpha] = page.locator("h3", has_text="Fused decision").inner_text()
            server_ms = re.search(r"in (\d+) ms on the server", page.get_by_text("on the server").inner_text())
            rows[-1]["server"] = float(server_ms.group(1))
            page.wait_for_timeout(300)
        end = alpha
        assert thumb.get_attribute("aria-valuetext") == end
        assert decisions[end].startswith(f"Fused decision: α = {end} → ") and decisions[end] != first
        # The bars were redrawn with the new α: three series (P_G, P_L, P) of one bar per class, the
        # fused one named after α, with new values, the decision in the title, and its P on its bar.
        expect(bars.locator(".legendtext")).to_have_text(
            ["P_G: SGAER (peak face)", "P_L: TLER (regions over time)", f"P: fused at α = {end}"])
        series = bars.locator(".barlayer .trace.bars")
        expect(series).to_have_count(3)
        for k in range(3):
            expect(series.nth(k).locator(".point")).to_have_count(7)  # the classroom model's 7 classes
        now = re.fullmatch(rf"Fused decision: α = {re.escape(end)} → (.+) \(P = (\d\.\d\d)\)", decisions[end])
        assert now is not None, decisions[end]
        expect(bars.locator(".gtitle")).to_have_text(re.compile(f"O = {re.escape(now.group(1))}$"))
        fused_after = series.nth(2).locator("text.bartext").all_text_contents()
        assert now.group(2) in fused_after and fused_after != fused_before
        page.screenshot(path=str(tmp_path / f"decision_alpha_{end}.png"))

    print(f"first render, fresh server ({load_before}): tabs {cold['tabs_s']:.1f} s, first figure "
          f"{cold['figure_s']:.1f} s; second browser tab: tabs {warm['tabs_s']:.1f} s, first figure "
          f"{warm['figure_s']:.1f} s")
    assert offsite(urls) == [], offsite(urls)  # nothing is fetched from the network
    summary = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    (tmp_path / "alpha_timing.json").write_text(json.dumps({"median_ms": summary, "steps": rows}, indent=1))
    print(f"α slider, median of {len(rows)} key presses (ms): {json.dumps({k: round(v) for k, v in summary.items()})}"
          f" ({load()}); screenshots in {tmp_path}")
    # The requirement: the app answers an α change within 200 ms. The server-side part (the fragment:
    # Eq. 14 on cached probabilities and the new figure) is what the app controls; the browser's own
    # drawing depends on the machine (docs/app.md has the full breakdown).
    assert summary["server"] < 200, summary


BOXES = """(chart) => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const all = sel => [...chart.querySelectorAll(sel)].map(box);
  return {xtitle: all('.xtitle'), ytitle: all('.ytitle'), xticks: all('.xtick text'), yticks: all('.ytick text')};
}"""


def overlaps(a, b, gap: float = 8.0) -> bool:
    """Two boxes (left, top, right, bottom) closer than ``gap`` pixels."""
    return a[0] - gap < b[2] and b[0] - gap < a[2] and a[1] - gap < b[3] and b[1] - gap < a[3]


def test_classroom_training_and_use_this_model_in_chromium(server, tmp_path):
    """Train with the default settings, "Use this model" (a button in a fragment), then the sidebar
    names the new checkpoint and the Evaluation tab shows its held-out confusion matrix, legibly."""
    from playwright.sync_api import expect

    with chromium(tmp_path) as (browser, urls):
        page = first_render(browser, server)["page"]
        page.get_by_role("tab", name="Classroom training").click()
        epochs = int(page.get_by_label("Epochs").input_value())
        load_before = load()
        t0 = time.perf_counter()
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.get_by_text(re.compile(r"^Finished after \d+ epoch"))).to_be_visible(timeout=600_000)
        wall = time.perf_counter() - t0
        load_after = load()
        curves = plotly_chart(page, "Live training curves")
        expect(curves).to_have_count(1, timeout=30_000)  # one chart (fragment reruns leave no stale copy)
        ticks = curves.locator(".xtick text").all_text_contents()
        assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks), ticks  # whole epochs, no 2.5
        page.screenshot(path=str(tmp_path / "training.png"))

        page.get_by_role("button", name="Use this model").click()
        expect(page.get_by_role("combobox", name="Checkpoint")).to_have_value(re.compile(r"app-[\d-]+/model\.pt$"),
                                                                             timeout=60_000)
        page.get_by_role("tab", name="Evaluation").click()
        counts = plotly_chart(page, "Counts (held out)")
        normalised = plotly_chart(page, "Normalised by row (held out)")
        for chart in (counts, normalised):
            expect(chart).to_be_visible(timeout=60_000)
            b = chart.element_handle().evaluate(BOXES)
            assert len(b["xtitle"]) == len(b["ytitle"]) == 1 and len(b["xticks"]) == len(b["yticks"]) == 7, b
            assert not any(overlaps(b["xtitle"][0], t) for t in b["xticks"]), b  # "predicted" clear of the names
            assert not any(overlaps(b["ytitle"][0], t) for t in b["yticks"]), b  # "true" clear of the names
        expect(page.get_by_text("has no results.json")).to_have_count(0)
        page.screenshot(path=str(tmp_path / "evaluation.png"), full_page=True)

    metrics = next((tmp_path / "runs").glob("sessions/*/runs/app-*/metrics.csv")).read_text().splitlines()
    assert metrics[0].endswith(",seconds"), metrics[0]
    seconds = [float(line.split(",")[-1]) for line in metrics[1:]]
    print(f"classroom training in the app, {epochs} epochs (default): {wall:.1f} s from Train to 'Finished' "
          f"({load_before} before, {load_after} after); per epoch (metrics.csv 'seconds'): median "
          f"{statistics.median(seconds):.2f} s, first {seconds[0]:.2f} s; screenshots in {tmp_path}")
    assert offsite(urls) == [], offsite(urls)
