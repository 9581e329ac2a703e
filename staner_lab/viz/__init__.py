"""Figure builders shared by the notebooks and the app (plotly; matplotlib only for static PNG files).

Conventions: builders take arrays or library dataclasses and return a ``plotly.graph_objects.Figure``;
they never show it. Colour maps are colour-blind safe (cividis / viridis; a diverging map for signed
values) and fonts are large enough for a projector (``FONT_SIZE``).
"""

from staner_lab.viz.confusion import FONT_SIZE, confusion_figure, save_confusion_figures

__all__ = ["FONT_SIZE", "confusion_figure", "save_confusion_figures"]

# App views (streamlit_app.py): sequence, attention, LSTM, decision, evaluation, training.
from staner_lab.viz.attention import attention_figure, channel_attention_figure
from staner_lab.viz.calibration import reliability_figure
from staner_lab.viz.decision import probability_figure, stream_figure
from staner_lab.viz.evaluation import ablation_figure, confusion_pair, recall_figure
from staner_lab.viz.lstm import gate_means_figure, gates_figure, states_figure
from staner_lab.viz.sequence import filmstrip_figure, frames_figure
from staner_lab.viz.training import training_curves_figure

__all__ += [
            "ablation_figure",
            "attention_figure",
            "channel_attention_figure",
            "confusion_pair",
            "filmstrip_figure",
            "frames_figure",
            "gate_means_figure",
            "gates_figure",
            "probability_figure",
            "recall_figure",
            "reliability_figure",
            "states_figure",
            "stream_figure",
            "training_curves_figure",
]

# Attributions (staner_lab.explain): captum maps on the face, M vs attribution, TLER region x frame.
from staner_lab.viz.explain import (
    attention_vs_attribution_figure,
    attribution_overlay_figure,
    region_frame_figure,
    region_motion_figure,
    region_share_figure,
)

__all__ += ["attention_vs_attribution_figure", "attribution_overlay_figure", "region_frame_figure",
            "region_motion_figure", "region_share_figure"]

# Data: what moves in each class, one data set or real against drawn (staner_lab.data.face_motion).
from staner_lab.viz.face_motion import face_motion_figure

__all__ += ["face_motion_figure"]

# Notebooks (notebooks/): the tour, Eq. 1-16 views, and show_interactive (static figure + widgets).
from staner_lab.viz.ground_truth import mask_overlay_figure, pointing_game_figure
from staner_lab.viz.model_internals import (
            feature_grid_figure,
            feature_map_figure,
            gate_curves_figure,
            lstm_step_figure,
            softmax_figure,
            time_features_figure,
)
from staner_lab.viz.model_selection import (
            alpha_sweep_figure,
            fusion_confusion_figure,
            split_comparison_figure,
)
from staner_lab.viz.tour import region_explorer_figure, tour_figure
from staner_lab.viz.widgets import dropdown, show_interactive, slider

__all__ += ["alpha_sweep_figure", "dropdown", "feature_grid_figure", "feature_map_figure", "fusion_confusion_figure",
            "gate_curves_figure", "lstm_step_figure", "mask_overlay_figure", "pointing_game_figure",
            "region_explorer_figure", "show_interactive", "slider", "softmax_figure", "split_comparison_figure",
            "time_features_figure", "tour_figure"]
