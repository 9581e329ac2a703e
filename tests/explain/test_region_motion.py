"""benchmarks/region_motion.py: TLER with regions stilled, on a whole data folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from staner_lab.data.dataset import StanerDataset, make_loader
from staner_lab.data.shipped import load_shipped_samples, shipped_checkpoint, shipped_data_dir
from staner_lab.explain.wrappers import make_baseline
from staner_lab.training.checkpoint import load_model
from staner_lab.training.loop import predict

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("region_motion", REPO / "benchmarks" / "region_motion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def samples():
    return load_shipped_samples(load_model(shipped_checkpoint()).config.inputs)[0]


def test_a_stilled_region_is_the_neutral_baseline_of_region_ablation_and_the_others_stay(bench, samples):
    s = samples[3]
    out = bench.stilled(s, {"eyes"})
    seq = torch.from_numpy(s.regions["eyes"])[None, :, None]  # (1, T, 1, h, w)
    np.testing.assert_array_equal(out.regions["eyes"], make_baseline(seq, "neutral")[0, :, 0].numpy())
    assert not np.array_equal(out.regions["eyes"], s.regions["eyes"])  # the eyes did move
    for r in ("nose", "mouth"):
        assert out.regions[r] is s.regions[r]
    assert out.peak is s.peak and out.label == s.label


def test_the_report_reads_the_model_as_predict_does_and_stilling_every_region_changes_it(bench, samples, capsys,
                                                                                         monkeypatch, one_thread):
    model = load_model(shipped_checkpoint())
    pred = predict(model, make_loader(StanerDataset(samples), 32), torch.device("cpu"), amp=False)
    monkeypatch.setattr(sys, "argv", ["region_motion.py", "--checkpoint", str(shipped_checkpoint()),
                                      "--data", str(shipped_data_dir())])
    bench.main()
    rows = {line[:18].strip(): line[18:].split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert list(rows) == ["as recorded", "eyes stilled", "nose stilled", "mouth stilled",
                          "only eyes moving", "only nose moving", "only mouth moving"]
    tler = 100 * float((pred.P_L.argmax(1) == pred.labels).mean())
    assert float(rows["as recorded"][0]) == pytest.approx(tler, abs=0.05)
    named = [int(c) for c in rows["as recorded"][-7:]]
    assert named == np.bincount(pred.P_L.argmax(1), minlength=7).tolist()
    # the shipped model reads its own faces from every region together: stilling one costs it
    assert all(float(rows[r][0]) < tler for r in ("eyes stilled", "nose stilled", "mouth stilled"))
