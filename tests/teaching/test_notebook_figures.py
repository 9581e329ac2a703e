"""Figures in notebooks: a static PNG beside every interactive plotly figure, controls that redraw a
figure in place (no Output widget, so headless runs cannot hang on one), and a clear message, not a
crash, when no browser is there to draw the PNGs.

Real parts: a real kernel through ``jupyter nbconvert --execute``, real kaleido and Chromium.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
JUPYTER = Path(sys.executable).with_name("jupyter")
PLOTLY = "application/vnd.plotly.v1+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _execute(tmp_path: Path, cells: list[str], **env: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    proc = subprocess.run([str(JUPYTER), "nbconvert", "--to", "notebook", "--execute", str(path),
                           "--output", "probe.out"], check=False, cwd=tmp_path, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return nbformat.read(tmp_path / "probe.out.ipynb", as_version=4)


def _figures(cell) -> list[dict]:
    return [o.data for o in cell.outputs if o.output_type == "display_data" and PLOTLY in o.data]


SETUP = ("from staner_lab.teaching import notebook as nb\n"
         "from staner_lab import viz\n"
         "import plotly.graph_objects as go\n"
         "s = viz.slider(1, 0, 5, description='a')\n"
         "build = lambda a, b: go.Figure(go.Bar(y=[a, b])).update_layout(title=f'a={a}')")
SHOW = "viz.show_interactive(build, a=s, b=2)"


def test_interactive_view_shows_its_figure_with_a_png_and_writes_no_widget_output(tmp_path):
    """The headless run leaves the Output widget empty: nbclient never syncs it back to the kernel."""
    nb = _execute(tmp_path, [SETUP, SHOW])
    shown = nb.cells[1]
    (figure,) = _figures(shown)
    assert figure[PLOTLY]["layout"]["title"]["text"] == "a=1"
    assert base64.b64decode(figure["image/png"]).startswith(PNG_MAGIC)
    captions = [o.data["text/markdown"] for o in shown.outputs if "text/markdown" in o.get("data", {})]
    assert len(captions) == 1 and "a = 1, b = 2" in captions[0], captions
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in shown.outputs)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    outputs = [m["state"].get("outputs") for m in state.values() if m["model_name"] == "OutputModel"]
    assert outputs == [[]], outputs


def test_moving_a_control_draws_the_figure_again_with_its_png(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, SHOW, "s.value = 3")]  # what moving the slider does
    client = NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}})
    # The redraw writes into the Output widget; without nbclient's emulation of it (the race of
    # jupyter/nbclient#312) its outputs land in the cell that moved the slider.
    client.widget_registry = {}
    client.execute()
    (figure,) = _figures(nb.cells[2])
    assert figure[PLOTLY]["layout"]["title"]["text"] == "a=3"
    assert base64.b64decode(figure["image/png"]).startswith(PNG_MAGIC)
    assert any("a = 3, b = 2" in o.data.get("text/markdown", "") for o in nb.cells[2].outputs if "data" in o)


def test_without_a_browser_figures_stay_interactive_and_one_message_says_how(tmp_path):
    nb = _execute(tmp_path, [
        ("from staner_lab.teaching import notebook as nb\n"
         "import plotly.graph_objects as go\n"
         "go.Figure(go.Bar(y=[1, 2])).show()"),
        "go.Figure(go.Bar(y=[2, 1])).show()",
    ], BROWSER_PATH=str(tmp_path / "no-such-chromium"))
    stderr = [o.text for c in nb.cells for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
    message = "".join(stderr)
    assert message.count("Static figures are off") == 1, message
    assert "no-such-chromium" in message and "apt-get install chromium" in message, message
    for cell in nb.cells:
        (figure,) = _figures(cell)
        assert "image/png" not in figure


def test_outside_a_kernel_plotly_keeps_its_renderer():
    code = ("import plotly.io as pio; before = pio.renderers.default\n"
            "from staner_lab.teaching import notebook, figures\n"
            "assert pio.renderers.default == before, pio.renderers.default\n"
            "assert figures.RENDERER in pio.renderers\n")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PLOTLY_RENDERER"})
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_png_size_follows_the_figure_layout():
    from staner_lab.teaching import figures

    png = figures.png_bytes({"data": [{"type": "bar", "y": [1, 2]}], "layout": {"width": 321, "height": 123}})
    if png is None:
        pytest.fail(f"no PNG: {figures._STATE['off']} (needs kaleido and Chromium: scripts/test installs it)")
    assert png.startswith(PNG_MAGIC)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (321, 123), json.dumps([width, height])
