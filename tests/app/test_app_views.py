"""What the app's views show, without Streamlit: the sequence view and the model's outputs as numpy
(staner_lab.explain.inspection), the decision sentence (app.decision), the peak-face attribution and
its agreement with M (app.explanations), the stream trace (app.streaming), and the figures built
from them (staner_lab.viz)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch.nn import functional as TF

from staner_lab import viz
from staner_lab.app import decision, explanations, streaming
from staner_lab.config import PreprocessConfig, ablation_config, preset
from staner_lab.data.preprocess import load_frames, preprocess_sequence
from staner_lab.explain import inspection
from staner_lab.models.staner import STANER

INPUTS = preset("classroom").inputs


@pytest.fixture(scope="module")
def shipped():
    records, class_names = inspection.shipped_records()
    return records, class_names


@pytest.fixture(scope="module")
def face_frames(shipped) -> np.ndarray:
    frames, _ = load_frames(shipped[0][0])
    return frames  # (5, 96, 96) uint8, a synthetic face from neutral to peak


@pytest.fixture(scope="module")
def sample(shipped):
    return inspection.inspect_record(shipped[0][0], INPUTS).sample


# --- sequences and model outputs ---------------------------------------------------------------


def test_inspect_record_matches_preprocess_sequence(shipped):
    record = shipped[0][3]
    view = inspection.inspect_record(record, INPUTS, PreprocessConfig(), class_names=shipped[1])
    ref = preprocess_sequence(record, INPUTS, PreprocessConfig())
    assert np.array_equal(view.sample.peak, ref.peak)
    for r in ref.regions:
        assert np.array_equal(view.sample.regions[r], ref.regions[r])
    assert np.array_equal(view.sample.landmarks, ref.landmarks)
    assert view.frames.shape[0] == view.landmarks.shape[0] == 5
    assert view.peak == 4 and len(view.indices) == INPUTS.frames
    assert view.true_label == shipped[1][record.label]


def test_analyse_and_fuse(sample):
    torch.manual_seed(0)
    model = STANER(preset("classroom")).eval()
    a = inspection.analyse(model, sample)
    K = model.config.num_classes
    assert a.P_G.shape == a.P_L.shape == a.P.shape == (K,)
    assert a.attention == "spatial" and a.M.shape == (8, 8) and 0 <= a.M.min() <= a.M.max() <= 1
    assert set(a.lstm) == {"eyes", "nose", "mouth"}
    assert a.lstm["mouth"]["h"].shape == (INPUTS.frames, 64)
    for alpha in (0.0, 0.3, 1.0):
        P = inspection.fuse(a, alpha)
        np.testing.assert_allclose(P, alpha * a.P_G + (1 - alpha) * a.P_L, rtol=1e-6)
        np.testing.assert_allclose(P.sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(inspection.fuse(a, a.alpha), a.P, rtol=1e-5, atol=1e-7)
    c1 = inspection.analyse(STANER(ablation_config(preset("classroom"), "C1")).eval(), sample)
    assert c1.attention == "none" and c1.M is None and c1.lstm == {} and c1.P_L is None
    np.testing.assert_array_equal(inspection.fuse(c1, 0.2), c1.P)  # one branch: alpha has no effect


def test_describe_decision():
    names = preset("classroom").class_names
    K = len(names)
    assert decision.describe_decision(names, np.eye(K)[2], 0.25) == f"α = 0.25 → {names[2]} (P = 1.00)"


def test_explain_peak(sample):
    torch.manual_seed(0)
    model = STANER(preset("classroom")).eval()
    ex = explanations.explain_peak(model, sample, "saliency")
    assert ex.map.shape == (64, 64) and not ex.signed and ex.method == "saliency"
    # The explained class is the fused decision; the map is saliency |dP_G(target) / dI_p|, by hand here.
    a = inspection.analyse(model, sample)
    target = int(np.argmax(a.P))
    assert ex.target == model.config.class_names[target]
    peak, _ = inspection.sample_batch(sample)
    peak = peak.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.softmax(model.sgaer(peak).float(), dim=-1)[0, target], peak)
    expected = grad[0, 0].abs().numpy()
    np.testing.assert_allclose(ex.map, expected, rtol=1e-4, atol=1e-4 * expected.max())  # float32 noise
    # The agreement is Spearman's rho between M (8 x 8, upsampled bilinearly to the face) and |map|,
    # recomputed here with scipy on the same two maps.
    M_up = TF.interpolate(torch.from_numpy(a.M)[None, None], size=(64, 64), mode="bilinear",
                          align_corners=False)[0, 0].numpy()
    rho = spearmanr(M_up.ravel(), np.abs(ex.map).ravel()).statistic
    assert ex.agreement is not None and np.isfinite(ex.agreement)
    assert ex.agreement == pytest.approx(rho, abs=1e-6)
    # Without a spatial attention map there is nothing to agree with.
    c1 = STANER(ablation_config(preset("classroom"), "C1")).eval()
    assert explanations.explain_peak(c1, sample, "saliency").agreement is None
    assert "integrated_gradients" in explanations.peak_methods()


# --- figures of the views ---------------------------------------------------------------------


def test_view_figures(shipped, sample):
    view = inspection.inspect_record(shipped[0][0], INPUTS)
    fig = viz.frames_figure(view.frames, view.landmarks, view.boxes, view.indices, view.peak)
    assert [t.name for t in fig.data] == ["frames", "jaw", "eyes", "nose", "mouth"]
    assert sum(len(t.x) for t in fig.data[1:]) == 68 * 5  # every landmark of the 5 frames shown
    assert len(fig.layout.shapes) == 3 * 5
    assert fig.layout.template.layout.font.size >= 18  # projector
    strip = viz.filmstrip_figure(sample.regions, view.indices)
    assert "t=8" in " ".join(a.text for a in strip.layout.annotations)
    torch.manual_seed(0)
    a = inspection.analyse(STANER(preset("classroom")).eval(), sample)
    att = viz.attention_figure(sample.peak, a.M, opacity=0.3)
    assert att.data[1].opacity == 0.3 and att.data[1].colorscale[0][1] != att.data[1].colorscale[-1][1]
    states = viz.states_figure(a.lstm["eyes"]["h"], a.lstm["eyes"]["c"], "eyes")
    assert states.layout.coloraxis.cmid == 0 and states.layout.coloraxis.cmin == -1  # signed: RdBu at 0
    gates = viz.gates_figure(a.lstm["eyes"]["f"], a.lstm["eyes"]["i"], a.lstm["eyes"]["o"], "eyes")
    assert len(gates.data) == 3 and gates.layout.coloraxis.cmax == 1
    assert len(viz.gate_means_figure(a.lstm, "o").data) == 3
    P = inspection.fuse(a, 0.7)
    bars = viz.probability_figure(a.class_names, P, 0.7, a.P_G, a.P_L, true_label=a.class_names[0])
    assert [t.name.split(":")[0] for t in bars.data] == ["P_G", "P_L", "P"]
    assert "α = 0.70" in bars.data[2].name
    curves = viz.training_curves_figure([{"epoch": 0, "train_loss": 2, "train_acc": 0.2, "val_loss": float("nan"),
                                          "val_acc": float("nan")}])
    assert [t.name for t in curves.data] == ["train", "train"]  # no held-out curve without data
    counts, rows = viz.confusion_pair(np.eye(3, dtype=int), ["a", "b", "c"])
    assert counts.data[0].zmax == 1 and rows.layout.template.layout.font.size >= 18
    assert viz.recall_figure(["a", "b"], np.array([0.5, np.nan])).data[0].text[1] == "no data"


def test_figures_are_legible_on_a_projector():
    """Cell text at full size, whole epochs, whole counts, and the true-class mark explained. (That the
    axis titles clear the class names is checked where it is drawn: tests/app/test_app_browser.py.)"""
    cm = np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]])
    counts, rows = viz.confusion_pair(cm, ["a", "b", "c"])
    for fig in (counts, rows):
        assert fig.data[0].textfont.size >= 18 and fig.data[0].texttemplate == "%{text}"
    assert [list(r) for r in rows.data[0].text] == [["0.67", "0.33", "0"], ["0", "1.00", "0"], ["0", "0", "0"]]
    assert counts.data[0].colorbar.dtick == 1  # counts 0..3: no 1.5
    rows_ = [{"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5} for e in range(3)]
    curves = viz.training_curves_figure(rows_)
    assert curves.layout.xaxis.dtick == 1 and curves.layout.xaxis2.dtick == 1 and curves.layout.xaxis.tick0 == 1
    long = viz.training_curves_figure([{**r, "epoch": e} for e in range(45) for r in rows_[:1]])
    assert long.layout.xaxis.dtick == 5  # about ten whole-epoch ticks
    P = np.array([0.2, 0.5, 0.3])
    marked = viz.probability_figure(["a", "b", "c"], P, 0.5, P, P, true_label="c")
    assert "c ✓" in marked.data[0].y[2] and [a.text for a in marked.layout.annotations] == ["✓ = the true class"]
    assert not viz.probability_figure(["a", "b", "c"], P, 0.5, P, P).layout.annotations


def test_stream_trace_follows_the_streaming_recognizer(face_frames):
    from staner_lab.data.shipped import shipped_checkpoint
    from staner_lab.live.recognizer import StreamingRecognizer
    from staner_lab.training.checkpoint import load_model

    model = load_model(shipped_checkpoint())
    trace = streaming.stream_trace(model, face_frames, PreprocessConfig(landmarks="dlib"))
    assert trace.P.shape == (5, model.config.num_classes) and trace.resets[0]
    np.testing.assert_allclose(trace.P.sum(axis=1), 1, atol=1e-5)
    rec = StreamingRecognizer(model, PreprocessConfig(landmarks="dlib"))
    last = [rec.update(f) for f in face_frames][-1]
    np.testing.assert_allclose(trace.P[-1], last.P, atol=1e-6)
    with pytest.raises(ValueError, match="no face found"):
        streaming.stream_trace(model, np.full((3, 96, 96), 128, np.uint8), PreprocessConfig(landmarks="dlib"))
    fig = viz.stream_figure(trace.class_names, trace.P, trace.resets)
    assert len(fig.data) == model.config.num_classes
