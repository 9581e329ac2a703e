"""ipywidgets for the notebooks: a slider, a drop-down, and :func:`show_interactive`.

:func:`show_interactive` shows a figure at its default settings (a static fallback for viewers
without widgets) and then controls that redraw it.
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
    """Show ``build(**defaults)`` as a static figure, then controls that redraw it.

    The static figure is the fallback for viewers without widgets (a rendered notebook, VS Code
    without widget support); in JupyterLab the controls below it redraw a live copy.

    Args:
        build: keyword arguments -> figure.
        **controls: ipywidgets controls (see :func:`slider`, :func:`dropdown`), named like ``build``'s
            arguments; their current values are the defaults.
    """
    import ipywidgets as widgets
    from IPython.display import Markdown, display

    defaults = {k: getattr(c, "value", c) for k, c in controls.items()}
    shown = ", ".join(f"{k} = {v:.2f}" if isinstance(v, float) else f"{k} = {v}" for k, v in defaults.items())
    display(Markdown(f"*Static view ({shown}). The controls below redraw it in JupyterLab; other viewers show "
                     "only this figure.*"))
    build(**defaults).show()
    widgets.interact(lambda **kw: build(**kw).show(), **controls)
