"""A class on one app server: N simulated students at once, at the protocol level; prints one JSON object.

Starts ``streamlit run streamlit_app.py`` on a free loopback port (its own runs and sessions folders in
a temporary directory), then runs N students concurrently in one asyncio loop. Each student speaks
Streamlit's own protocol, as a browser tab does, but draws nothing: a websocket to
``/_stcore/stream`` carrying ``BackMsg``/``ForwardMsg`` protobufs (widget values, script runs,
fragment reruns, ``run_every`` polling), and uploads through ``/_stcore/upload_file`` with the XSRF
cookie. Why not real browser tabs: 30 Chromium tabs, each running Plotly in software, would measure
the two cores drawing charts rather than the server; a student here costs the server what a tab
costs it (the same script runs, caches, fragments and uploads) and the client almost nothing.

Each student: opens the page (the Sequence view of the opening sample); picks another shipped
sample; opens the Decision tab and moves α three times (fragment reruns); switches to Upload and
uploads one face (PNG; "already cropped" ticked); and one student in ``--train-every`` opens
Classroom training and presses Train (``--epochs``), then polls like the page until it finishes.
With ``--think 0`` (the default) every student fires each action the moment the last one answered,
all 30 at once: a worst case; ``--think S`` pauses S seconds on average (0.5-1.5 S) before each.

Reported: ``first_figure_s`` (median, worst: from opening the websocket until the first Plotly
figure arrives, i.e. server time; a browser adds loading the page's scripts and drawing),
``alpha_ms`` (median, p90, worst: α sent -> fragment run finished), ``queue_wait_s`` (Train
pressed -> "training…" shown) and ``train_s``, the server's resident memory (``rss_mb`` peak and at
the end, from /proc), ``errors`` (exceptions, unexpected st.error, timeouts, lost connections; each
with the student and step) and ``isolation`` (no student's checkpoint list names another session's
folder). Everything is loopback; the run stops itself after ``--time-limit`` seconds and the server
is always stopped.

Usage::

    python benchmarks/bench_class_load.py [--students 30] [--train-every 3] [--epochs 3] [--think 0]
                                          [--time-limit 900]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WAIT = 240.0  # seconds one script run may take under load before it counts as an error


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(workdir: Path, env: dict[str, str] | None = None):
    """``streamlit run streamlit_app.py`` on loopback, as scripts/start runs it (.streamlit/config.toml, the
    app's own thread settings); yields (url, pid); always stopped. The browser tests start theirs here too."""
    port = free_port()
    log = (workdir / "streamlit.log").open("w")
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    environ |= {"STANER_APP_RUNS": str(workdir / "runs")}  # sessions: <runs>/sessions, the app's default
    environ |= env or {}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=environ)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {(workdir / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class StudentError(Exception):
    pass


class Tab:
    """One browser tab at the protocol level: widget values kept and sent on every run, like the page."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.ws = None
        self.session_id = ""
        self.states: dict[str, Any] = {}  # widget id -> WidgetState (kept between runs)
        self.ids: dict[str, str] = {}  # user key -> widget/element id
        self.protos: dict[str, Any] = {}  # user key -> the element's proto (options of a selectbox...)
        self.fragment_of: dict[str, str] = {}  # user key -> the fragment it was drawn in
        self.elements: list[tuple[str, Any]] = []  # (type, proto) drawn in the current run
        self.first_chart: float | None = None
        self.auto_rerun: tuple[float, str] | None = None
        self.cookie = ""
        self._finished: asyncio.Queue = asyncio.Queue()
        self._file_urls: dict[str, Any] = {}
        self._reader: asyncio.Task | None = None

    async def open(self) -> None:
        from tornado.httpclient import AsyncHTTPClient
        from tornado.websocket import websocket_connect

        await AsyncHTTPClient().fetch(self.url + "/", request_timeout=WAIT)  # the page, as a browser loads it
        health = await AsyncHTTPClient().fetch(self.url + "/_stcore/health", request_timeout=WAIT)  # sets XSRF
        for c in health.headers.get_list("Set-Cookie"):
            if c.startswith("_streamlit_xsrf="):
                self.cookie = c.split(";")[0].split("=", 1)[1]
        from tornado.httpclient import HTTPRequest

        req = HTTPRequest(self.url.replace("http", "ws") + "/_stcore/stream", request_timeout=WAIT,
                          headers={"Cookie": f"_streamlit_xsrf={self.cookie}", "Origin": self.url})
        self.ws = await websocket_connect(req, subprotocols=["streamlit", self.cookie], max_message_size=2**28)
        self._reader = asyncio.ensure_future(self._read())

    async def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        while True:
            data = await self.ws.read_message()
            if data is None:
                await self._finished.put(("closed", None))
                return
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.session_id = msg.new_session.initialize.session_id
            elif kind == "delta":
                self._delta(msg.delta)
            elif kind == "script_finished":
                await self._finished.put(("finished", msg.script_finished))
            elif kind == "file_urls_response":
                self._file_urls[msg.file_urls_response.response_id] = msg.file_urls_response
            elif kind == "auto_rerun":
                self.auto_rerun = (msg.auto_rerun.interval, msg.auto_rerun.fragment_id)
            elif kind == "stop_auto_rerun":
                self.auto_rerun = None

    def _delta(self, delta) -> None:
        if delta.WhichOneof("type") == "add_block":
            block = delta.add_block
            if block.id:
                self.ids[block.id.rsplit("-", 1)[-1]] = block.id
            return
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        t = el.WhichOneof("type")
        proto = getattr(el, t)
        self.elements.append((t, proto))
        if t == "plotly_chart" and self.first_chart is None:
            self.first_chart = time.perf_counter()
        wid = getattr(proto, "id", "")
        if isinstance(wid, str) and wid.startswith("$$ID-"):
            key = wid.rsplit("-", 1)[-1]
            self.ids[key], self.protos[key] = wid, proto
            if delta.fragment_id:
                self.fragment_of[key] = delta.fragment_id

    def set(self, key: str, field: str, value: Any) -> None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        if key not in self.ids:
            raise StudentError(f"no widget {key!r} on the page")
        ws = WidgetState(id=self.ids[key])
        if field == "double_array_value":
            ws.double_array_value.data.extend(value)
        elif field == "file_uploader_state_value":
            ws.file_uploader_state_value.CopyFrom(value)
        else:
            setattr(ws, field, value)
        self.states[ws.id] = ws

    async def run(self, fragment: str = "", trigger: str | None = None, auto: bool = False) -> float:
        """Send a rerun (the page's current widget values; ``trigger``: a button pressed now); wait
        until it finishes. Returns its seconds."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string, cs.page_script_hash, cs.is_auto_rerun = "", "", auto
        if fragment:
            cs.fragment_id = fragment
        cs.widget_states.widgets.extend(self.states.values())
        if trigger is not None:
            cs.widget_states.widgets.append(WidgetState(id=self.ids[trigger], trigger_value=True))
        self.elements = []
        while not self._finished.empty():
            self._finished.get_nowait()
        t0 = time.perf_counter()
        await self.ws.write_message(msg.SerializeToString(), binary=True)
        while True:
            try:
                what, status = await asyncio.wait_for(self._finished.get(), WAIT)
            except asyncio.TimeoutError:
                raise StudentError(f"a script run took over {WAIT:.0f} s") from None
            if what == "closed":
                raise StudentError("the server closed the connection")
            if status != 2:  # FINISHED_EARLY_FOR_RERUN: another run follows
                break
        self.check()
        return time.perf_counter() - t0

    def check(self) -> None:
        for t, p in self.elements:
            if t == "exception":
                raise StudentError(f"the page raised {p.type}: {p.message}")

    def texts(self, kind: str) -> list[str]:
        out = []
        for t, p in self.elements:
            if t == kind == "alert":
                out.append(f"{p.format}:{p.body}")
            elif t == kind:
                out.append(getattr(p, "body", "") or getattr(p, "text", ""))
        return out

    def errors(self) -> list[str]:
        from streamlit.proto.Alert_pb2 import Alert

        return [p.body for t, p in self.elements if t == "alert" and p.format == Alert.ERROR]

    def charts(self) -> list[str]:
        return [p.id.rsplit("-", 1)[-1] for t, p in self.elements if t == "plotly_chart"]

    async def upload(self, key: str, name: str, data: bytes):
        """Upload one file to the uploader ``key`` as the page does; returns its FileUploaderState."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.Common_pb2 import FileUploaderState, UploadedFileInfo
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest

        rid = uuid.uuid4().hex
        msg = BackMsg()
        msg.file_urls_request.request_id, msg.file_urls_request.session_id = rid, self.session_id
        msg.file_urls_request.file_names.append(name)
        await self.ws.write_message(msg.SerializeToString(), binary=True)
        end = time.monotonic() + WAIT
        while rid not in self._file_urls:
            if time.monotonic() > end:
                raise StudentError("no upload URL from the server")
            await asyncio.sleep(0.05)
        resp = self._file_urls.pop(rid)
        if resp.error_msg:
            raise StudentError(f"upload refused: {resp.error_msg}")
        urls = resp.file_urls[0]
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        await AsyncHTTPClient().fetch(HTTPRequest(
            self.url + urls.upload_url, method="PUT", body=body, request_timeout=WAIT,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": self.cookie,
                     "Cookie": f"_streamlit_xsrf={self.cookie}"}))
        info = UploadedFileInfo(name=name, size=len(data), file_id=urls.file_id)
        info.file_urls.CopyFrom(urls)
        return FileUploaderState(uploaded_file_info=[info])


async def student(url: str, k: int, face_png: bytes, train: bool, epochs: int, report: dict, deadline: float,
                  think: float = 0.0) -> None:
    tab = Tab(url, f"student {k + 1}")
    rng = random.Random(k)

    async def pause() -> None:  # a student reads the page before the next action (0: no pause at all)
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))

    r: dict[str, Any] = {"student": k + 1, "trained": train}
    report["students"].append(r)
    step = "open"
    try:
        t0 = time.perf_counter()
        await tab.open()
        await tab.run()
        if tab.first_chart is None or "frames_chart" not in tab.charts():
            raise StudentError(f"no frames figure on the first page; errors: {tab.errors()}")
        r["first_figure_s"] = tab.first_chart - t0
        if tab.errors():
            raise StudentError(f"st.error: {tab.errors()}")

        step = "pick a sample"
        await pause()
        options = list(tab.protos["sequence"].options)
        tab.set("sequence", "string_value", options[(7 * k + 3) % len(options)])
        await tab.run()
        if "frames_chart" not in tab.charts() or tab.errors():
            raise StudentError(f"no frames figure for the picked sample; errors: {tab.errors()}")

        step = "move alpha"
        await pause()
        tab.set("view", "string_value", "Decision")
        await tab.run()
        alphas = []
        for a in (0.3, 0.7, 0.25):
            tab.set("alpha", "double_array_value", [a])
            if not tab.fragment_of.get("alpha"):
                raise StudentError("the α slider is not in a fragment")
            await pause()
            alphas.append(await tab.run(fragment=tab.fragment_of.get("alpha", "")))
            heads = tab.texts("heading")
            if not any(h.startswith(f"Fused decision: α = {a:.2f}") for h in heads):
                raise StudentError(f"α = {a}: the decision did not follow ({heads})")
        r["alpha_ms"] = [1000 * s for s in alphas]

        step = "upload"
        await pause()
        tab.set("view", "string_value", "Sequence")
        tab.set("source", "string_value", "Upload")
        await tab.run()
        tab.set("whole_frame", "bool_value", True)
        state = await tab.upload("uploads", f"face-{k}.png", face_png)
        tab.set("uploads", "file_uploader_state_value", state)
        await tab.run()
        if "frames_chart" not in tab.charts() or tab.errors():
            raise StudentError(f"the upload was not shown; errors: {tab.errors()}")

        if train:
            step = "train"
            await pause()
            tab.set("view", "string_value", "Classroom training")
            await tab.run()
            tab.set("train_epochs", "double_value", float(epochs))
            pressed = time.perf_counter()
            await tab.run(trigger="train_start")
            started = None
            while True:
                if tab.errors():
                    raise StudentError(f"st.error: {tab.errors()}")
                progress = " ".join(tab.texts("progress"))
                place = re.search(r"waiting: place (\d+) in the queue", progress)
                if place:
                    r.setdefault("places_seen", []).append(int(place.group(1)))
                if started is None and re.search(r"training…|stopping|finished", progress):
                    started = time.perf_counter()
                if "— finished" in progress or any("Finished after" in s for s in tab.texts("alert")):
                    break
                if "— failed" in progress:
                    raise StudentError(f"training failed: {progress}")
                if time.monotonic() > deadline:
                    raise StudentError(f"training not finished at the time limit ({progress})")
                interval, fragment = tab.auto_rerun or (2.0, "")
                await asyncio.sleep(interval)
                await tab.run(fragment=fragment, auto=bool(fragment))
            r["queue_wait_s"] = (started or time.perf_counter()) - pressed
            r["train_s"] = time.perf_counter() - pressed
            m = re.search(r"(\S*sessions/[0-9a-f]{32})/runs/app-", progress)
            r["session_folder"] = m.group(1) if m else None

        step = "isolation"
        tab.set("view", "string_value", "Sequence")
        await tab.run()
        listed = [o for o in tab.protos["ckpt"].options if "sessions/" in o]
        own = r.get("session_folder")
        r["foreign_checkpoints"] = [o for o in listed if own is None or not o.startswith(own)]
        r["own_checkpoints"] = len(listed) - len(r["foreign_checkpoints"])
    except Exception as exc:  # noqa: BLE001 - every failure is a reported error, the others go on
        r["error"] = f"{step}: {type(exc).__name__}: {exc}"
    finally:
        await tab.close()


def face_png(k: int = 4) -> bytes:
    import cv2

    from staner_lab.data.preprocess import load_frames
    from staner_lab.explain.inspection import shipped_records

    records, _ = shipped_records()
    return cv2.imencode(".png", load_frames(records[0])[0][k])[1].tobytes()


async def _class(url: str, n: int, train_every: int, epochs: int, stagger: float, deadline: float,
                 think: float) -> dict:
    report: dict[str, Any] = {"students": []}
    png = face_png()
    tasks = []
    for k in range(n):
        train = train_every > 0 and k % train_every == 0
        tasks.append(asyncio.ensure_future(student(url, k, png, train, epochs, report, deadline, think)))
        await asyncio.sleep(stagger)
    remaining = max(1.0, deadline - time.monotonic())
    _, pending = await asyncio.wait(tasks, timeout=remaining)
    for t in pending:
        t.cancel()
    for r in report["students"]:
        if "error" not in r and "foreign_checkpoints" not in r:
            r["error"] = "stopped at the time limit"
    return report


def run_class(students: int = 30, train_every: int = 3, epochs: int = 3, time_limit: float = 900.0,
              stagger: float = 0.1, think: float = 0.0, env: dict[str, str] | None = None,
              workdir: Path | None = None) -> dict:
    """Start a server, run the class, stop the server; the summary (see the module's docstring)."""
    tmp = tempfile.TemporaryDirectory(prefix="staner-class-") if workdir is None else None
    work = Path(tmp.name) if tmp else workdir
    rss: list[float] = []
    try:
        load_before = os.getloadavg()
        with app_server(work, env) as (url, pid):
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    v = rss_mb(pid)
                    if v is not None:
                        rss.append(v)
                    stop.wait(0.5)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            t0 = time.perf_counter()
            deadline = time.monotonic() + time_limit
            report = asyncio.run(_class(url, students, train_every, epochs, stagger, deadline, think))
            wall = time.perf_counter() - t0
            stop.set()
            sampler.join()
            log = (work / "streamlit.log").read_text()
        root = work / "runs" / "sessions"
        sessions = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        out = summarise(report, wall, rss, load_before, os.getloadavg(), log, sessions, students, epochs, work)
        return {"think_s": think, "stagger_s": stagger} | out
    finally:
        if tmp:
            tmp.cleanup()


def _stats(xs: list[float], digits: int = 2) -> dict[str, float] | None:
    if not xs:
        return None
    xs = sorted(xs)
    p90 = xs[max(0, -(-9 * len(xs) // 10) - 1)]  # nearest rank
    return {"median": round(statistics.median(xs), digits), "p90": round(p90, digits),
            "worst": round(xs[-1], digits), "n": len(xs)}


def summarise(report: dict, wall: float, rss: list[float], load_before, load_after, log: str, sessions: list[str],
              students: int, epochs: int, work: Path) -> dict:
    rows = sorted(report["students"], key=lambda r: r["student"])
    errors = [f"student {r['student']}: {r['error']}" for r in rows if "error" in r]
    errors += [f"student {r['student']}: sees another session's checkpoints {r['foreign_checkpoints']}"
               for r in rows if r.get("foreign_checkpoints")]
    tracebacks = log.count("Traceback")
    if tracebacks:
        errors.append(f"the server log holds {tracebacks} traceback(s): {log[-1500:]}")
    return {
        "students": students, "protocol": "streamlit websocket (BackMsg/ForwardMsg protobufs), no browser",
        "trainings": sum(r["trained"] for r in rows), "epochs": epochs, "wall_s": round(wall, 1),
        "first_figure_s": _stats([r["first_figure_s"] for r in rows if "first_figure_s" in r]),
        "alpha_ms": _stats([a for r in rows for a in r.get("alpha_ms", [])], 0),
        "queue_wait_s": _stats([r["queue_wait_s"] for r in rows if "queue_wait_s" in r]),
        "train_s": _stats([r["train_s"] for r in rows if "train_s" in r]),
        "rss_mb": {"peak": round(max(rss), 0), "end": round(rss[-1], 0)} if rss else None,
        "session_folders": len(sessions),
        "isolation": not any(r.get("foreign_checkpoints") for r in rows),
        "own_checkpoints_seen": sum(r.get("own_checkpoints", 0) for r in rows),
        "errors": errors, "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cores": os.cpu_count(), "workdir": str(work), "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--train-every", type=int, default=3, help="one student in this many trains (0: none)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs of each classroom training")
    ap.add_argument("--time-limit", type=float, default=900.0, help="seconds; the class stops itself then")
    ap.add_argument("--stagger", type=float, default=0.1, help="seconds between two students opening the page")
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean seconds a student pauses before each action (0: all at once, the worst case)")
    a = ap.parse_args(argv)
    if not (1 <= a.students <= 200):
        ap.error("--students must be 1-200")
    out = run_class(a.students, a.train_every, a.epochs, min(a.time_limit, 3600.0), a.stagger, a.think)
    out.pop("rows")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
