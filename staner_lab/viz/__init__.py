"""Figure builders shared by the notebooks and the app (plotly; matplotlib only for static PNG files).

Conventions: builders take arrays or library dataclasses and return a ``plotly.graph_objects.Figure``;
they never show it. Colour maps are colour-blind safe (cividis / viridis; a diverging map for signed
values) and fonts are large enough for a projector (``FONT_SIZE``).
"""

from .confusion import FONT_SIZE, confusion_figure, save_confusion_figures

__all__ = ["FONT_SIZE", "confusion_figure", "save_confusion_figures"]
