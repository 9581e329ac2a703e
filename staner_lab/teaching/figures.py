"""Notebook figures that survive hand-outs: each plotly figure is sent interactive *and* as a PNG.

In a Jupyter kernel plotly sends only its own mime type (``application/vnd.plotly.v1+json``), which
JupyterLab and VS Code draw but an HTML/PDF export, GitHub or an LMS show as an empty box.
:func:`install` (called when a notebook imports ``staner_lab.teaching.notebook``) makes the
``"staner"`` renderer the default: one output with both mime types. Interactive front ends pick the
plotly one, exports the PNG.

The PNG comes from kaleido, which drives a headless Chrome or Chromium (found on the ``PATH``, at
the usual places, or at ``$BROWSER_PATH``). One browser is opened at the first figure and kept for
the kernel's life (about 0.3 s per figure after a start of a few seconds, instead of a new browser
per figure). Offline: plotly.js is the copy inside the plotly package, MathJax is off. Without
kaleido or a browser the figures stay interactive and one message says how to get the PNGs.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import os
import sys
import threading

from plotly.io.base_renderers import MimetypeRenderer, PlotlyRenderer

__all__ = ["RENDERER", "StaticFallbackRenderer", "install", "png_bytes"]

#: Name of the renderer in ``plotly.io.renderers``.
RENDERER = "staner"
#: Seconds allowed for starting the browser or exporting one figure.
TIMEOUT = 60.0

HOW_TO = (
    "Static figures are off ({reason}). The figures stay interactive in JupyterLab and VS Code, but an "
    "HTML or PDF export, GitHub or an LMS will show them empty. To get them: install Chromium "
    "(Debian/Ubuntu: sudo apt-get install chromium) or Google Chrome, or set BROWSER_PATH to one, or "
    "download one for kaleido with `.venv/bin/kaleido_get_chrome`; then restart the kernel. "
    "(kaleido itself: .venv/bin/python -m pip install kaleido)"
)


class _Browser:
    """One kaleido browser in a background thread with its own event loop (the kernel owns the main loop)."""

    def __init__(self) -> None:
        import kaleido

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="staner-figures", daemon=True)
        self._thread.start()

        async def start():
            k = kaleido.Kaleido(n=1, timeout=TIMEOUT, mathjax=False)
            await k.open()
            return k

        try:
            self._kaleido = self._run(start())
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise
        atexit.register(self.close)

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(TIMEOUT + 5)

    def png(self, fig_dict: dict, width: int, height: int, scale: float) -> bytes:
        opts = {"format": "png", "width": width, "height": height, "scale": scale}
        return self._run(self._kaleido.calc_fig(fig_dict, opts=opts))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # at exit; the browser's pipes close with the process anyway
            self._run(self._kaleido.close())
        self._loop.call_soon_threadsafe(self._loop.stop)


_STATE: dict[str, object] = {"browser": None, "off": None}


def png_bytes(fig_dict: dict) -> bytes | None:
    """The figure as PNG bytes, or None when static export is unavailable (said once, on stderr)."""
    import plotly.io as pio

    if _STATE["off"]:
        return None
    layout = fig_dict.get("layout", {})
    width = layout.get("width") or pio.defaults.default_width
    height = layout.get("height") or pio.defaults.default_height
    try:
        if _STATE["browser"] is None:
            _STATE["browser"] = _Browser()
        return _STATE["browser"].png(fig_dict, int(width), int(height), pio.defaults.default_scale)
    except Exception as e:  # noqa: BLE001 - any failure: keep the interactive figure, say why once
        reason = "kaleido is not installed" if isinstance(e, ImportError) else f"{type(e).__name__}: {e}"
        _STATE["off"] = reason
        print(HOW_TO.format(reason=reason), file=sys.stderr)
        return None


class StaticFallbackRenderer(MimetypeRenderer):
    """plotly's own mime type plus ``image/png`` (when kaleido and a browser are there)."""

    def to_mimebundle(self, fig_dict):
        bundle = PlotlyRenderer().to_mimebundle(fig_dict)
        png = png_bytes(fig_dict)
        if png is not None:
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle


def install() -> bool:
    """Make :class:`StaticFallbackRenderer` plotly's default inside a Jupyter kernel; True if it did.

    Outside a kernel (scripts, tests, the app) and when ``$PLOTLY_RENDERER`` chooses a renderer,
    plotly's choice stays.
    """
    import plotly.io as pio

    pio.renderers[RENDERER] = StaticFallbackRenderer()
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if os.environ.get("PLOTLY_RENDERER") or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    pio.renderers.default = RENDERER
    return True
