"""Figure builders shared by the notebooks and the app (plotly; matplotlib only for static PNG files).

Conventions: builders take arrays or library dataclasses and return a ``plotly.graph_objects.Figure``;
they never show it. Colour maps are colour-blind safe (cividis / viridis; a diverging map for signed
values) and fonts are large enough for a projector (``FONT_SIZE``).
"""

from .confusion import FONT_SIZE, confusion_figure, save_confusion_figures

__all__ = ["FONT_SIZE", "confusion_figure", "save_confusion_figures"]

# App views (streamlit_app.py): sequence, attention, LSTM, decision, evaluation, training.
from .attention import attention_figure, channel_attention_figure
from .decision import probability_figure, stream_figure
from .evaluation import ablation_figure, confusion_pair, recall_figure
from .lstm import gate_means_figure, gates_figure, states_figure
from .sequence import filmstrip_figure, frames_figure
from .training import training_curves_figure

__all__ += ["ablation_figure", "attention_figure", "channel_attention_figure", "confusion_pair",
            "filmstrip_figure", "frames_figure", "gate_means_figure", "gates_figure", "probability_figure",
            "recall_figure", "stream_figure", "states_figure", "training_curves_figure"]

# Attributions (staner_lab.explain): captum maps on the face, M vs attribution, TLER region x frame.
from .explain import (
    attention_vs_attribution_figure,
    attribution_overlay_figure,
    region_frame_figure,
    region_share_figure,
)

__all__ += ["attention_vs_attribution_figure", "attribution_overlay_figure", "region_frame_figure",
            "region_share_figure"]
