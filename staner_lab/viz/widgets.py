"""ipywidgets for the notebooks: a slider, a drop-down, and :func:`show_interactive`.

:func:`show_interactive` shows a figure at its default settings (what viewers without widgets
see) and then controls that draw it again at other settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go

__all__ = ["dropdown", "show_interactive", "slider"]


def slider(value: float, lo: float, hi: float, step: float | None = None, description: str = ""):
    """An ipywidgets slider that redraws on release (``IntSlider`` when all arguments are ints)."""
    import ipywidgets as widgets

    layout = widgets.Layout(width="480px")
    style_ = {"description_width": "initial"}
    if all(isinstance(v, int) for v in (value, lo, hi)) and (step is None or isinstance(step, int)):
        return widgets.IntSlider(value=value, min=lo, max=hi, step=step or 1, description=description,
                                 continuous_update=False, layout=layout, style=style_)
    return widgets.FloatSlider(value=value, min=lo, max=hi, step=step or (hi - lo) / 20, description=description,
                               continuous_update=False, layout=layout, style=style_)


def dropdown(options: Sequence[Any], value: Any = None, description: str = ""):
    """An ipywidgets dropdown (``options`` may be values or (label, value) pairs)."""
    import ipywidgets as widgets

    opts = list(options)
    first = opts[0][1] if isinstance(opts[0], tuple) else opts[0]
    return widgets.Dropdown(options=opts, value=first if value is None else value, description=description,
                            style={"description_width": "initial"})


def show_interactive(build: Callable[..., go.Figure], **controls: Any) -> None:
    """Show ``build(**defaults)``, then controls; moving one draws the figure again below them.

    The first figure is an ordinary output, what viewers without widgets show (an HTML or PDF
    export, GitHub, VS Code without widget support). The redrawn figure goes into an ``Output``
    widget that stays empty until a control moves: a headless run (``jupyter nbconvert --execute``,
    ``jupyter execute``) never writes into it, so it never waits on nbclient's emulation of it
    (jupyter/nbclient#312), which ``ipywidgets.interact`` triggers by drawing at once.

    Args:
        build: keyword arguments -> figure.
        **controls: ipywidgets controls (see :func:`slider`, :func:`dropdown`) or fixed values, named
            like ``build``'s arguments; the controls' current values are the defaults.
    """
    import ipywidgets as widgets
    from IPython.display import Markdown, clear_output, display

    def values() -> dict[str, Any]:
        return {k: c.value if isinstance(c, widgets.Widget) else c for k, c in controls.items()}

    def settings(now: dict[str, Any]) -> str:
        return ", ".join(f"{k} = {v:.2f}" if isinstance(v, float) else f"{k} = {v}" for k, v in now.items())

    display(Markdown(f"*Figure at {settings(values())}. Move the controls below it to draw it again at other "
                     "settings (JupyterLab, VS Code); a rendered copy of the notebook shows only this figure.*"))
    build(**values()).show()
    out = widgets.Output()

    def redraw(_change: Any = None) -> None:
        now = values()
        with out:  # an exception shows here, in the notebook, not in the kernel's log
            clear_output(wait=True)
            display(Markdown(f"*{settings(now)}*"))
            build(**now).show()

    knobs = [c for c in controls.values() if isinstance(c, widgets.Widget)]
    for knob in knobs:
        knob.observe(redraw, names="value")
    display(widgets.VBox([*knobs, out]))
