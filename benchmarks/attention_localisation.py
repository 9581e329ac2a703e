"""Does SGAER's attention M point at the action units? Subject-independent k-fold training of one
variant with attention (C3 by default) on a synthetic set, then, on each fold's test subjects, the
pointing game and mass of M inside the ground-truth AU masks, and the accuracy. Prints one JSON object.
The oracle pointing game is the best a map on M's grid can score (each cell's mask fraction).
"flat_M_changed" and "flat_M_shift" say how much the decision uses where M points: the fraction of
test faces whose SGAER class changes, and the mean total variation of P_G, when each face's M is
replaced by its own mean over positions. "cell_field_50"/"cell_field_90" are the effective
receptive field of one cell of M's grid: the fraction of the face that holds 50 % / 90 % of the
gradient magnitude of that cell of U (mean over five cells and the test faces).

The attention choices of ``AttentionConfig`` (normalise, residual, hidden_channels) and training
choices (``TrainConfig`` fields) can be set from the command line, so that each experiment in
docs/model.md ("Making attention localise") is one command, e.g.:

    python benchmarks/attention_localisation.py --data runs/synth_i10                        # Eq. 1-2
    python benchmarks/attention_localisation.py --data runs/synth_i10 --set sgaer.attention.normalise=softmax
    python benchmarks/attention_localisation.py --data runs/synth_i10 --set sgaer.attention.residual=0
    python benchmarks/attention_localisation.py --data runs/synth_i10 --set inputs.face_size=128

Make the data with ``staner-lab synth --out runs/synth_i10 --subjects 20 --seed 3 --frames 8
--size 96 --intensity 1.0 --noise 0.2`` (it needs GroundTruth/ AU masks, so synthetic sets only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from staner_lab import explain as E
from staner_lab import functional as Fn
from staner_lab.config import ablation_config, configs_with_settings
from staner_lab.data.dataset import collate, load_samples, to_item
from staner_lab.training.checkpoint import load_model
from staner_lab.training.protocol import RunOptions, cross_validate


def _oracle_map(mask: np.ndarray, cells: int) -> np.ndarray:
    """The best a map on M's grid can do: each cell's mask fraction, upsampled as M is (bilinear)."""
    low = torch.nn.functional.adaptive_avg_pool2d(torch.as_tensor(mask, dtype=torch.float32)[None, None], cells)
    return torch.nn.functional.interpolate(low, size=mask.shape, mode="bilinear", align_corners=False)[0, 0].numpy()


def cell_field(model, peaks: torch.Tensor) -> tuple[float, float]:
    """Fraction of the face holding 50 % and 90 % of |d U[:, :, i, j] / d face|, mean over five cells."""
    peaks = peaks.clone().requires_grad_(True)
    with torch.enable_grad():
        U = model.sgaer.frontend(peaks)
        h = U.shape[-1]
        cells = [(h // 2, h // 2), (h // 4, h // 4), (h // 4, 3 * h // 4), (3 * h // 4, h // 4), (3 * h // 4, 3 * h // 4)]
        out = []
        for i, j in cells:
            (g,) = torch.autograd.grad(U[:, :, i, j].abs().sum(), peaks, retain_graph=True)
            mass = g.abs().mean(0).flatten().sort(descending=True).values
            share = mass.cumsum(0) / mass.sum()
            out.append([float(((share < q).sum() + 1) / mass.numel()) for q in (0.5, 0.9)])
    return tuple(np.mean(out, axis=0).tolist())


def localisation(model, samples, root: Path) -> list[dict]:
    """Per test sequence: is SGAER right, does M's maximum fall in the AU masks, M's mass inside."""
    S = model.config.inputs.face_size
    cells = S // 8  # M's grid: the front end pools three times (as benchmarks/explain_agreement.py)
    tol = 15 * S / 224  # Zhang et al.'s tolerance, 15 px at 224 x 224, at this face size
    rows = []
    for start in range(0, len(samples), 16):
        chunk = samples[start:start + 16]
        batch = collate([to_item(s, i) for i, s in enumerate(chunk)])
        with torch.no_grad():
            it = model.sgaer.forward_intermediates(batch["peak"])
            P_flat = torch.softmax(model.sgaer.logits_with_map(it.U, Fn.flat_attention_map(it.M)), dim=1)
        pred, shift = it.P_G.argmax(1), 0.5 * (it.P_G - P_flat).abs().sum(1)
        M = E.upsampled_attention(model, batch["peak"])
        for b, sample in enumerate(chunk):
            mask = E.align_mask(E.union_mask(E.load_au_masks(root, sample.sequence_id)), sample.landmarks[-1], S)
            rows.append({"correct": bool(pred[b] == batch["label"][b]), "area": float(mask.mean()),
                         "pointing": E.pointing_game(M[b], mask), "mass": E.mass_inside(M[b], mask),
                         # with the tolerance, chance is the area within tol pixels of the mask
                         "pointing_tol": E.pointing_game(M[b], mask, tol), "area_tol": E.pointing_chance(mask, tol),
                         "oracle_pointing": E.pointing_game(_oracle_map(mask, cells), mask),
                         "flat_M_changed": float(P_flat[b].argmax() != pred[b]), "flat_M_shift": float(shift[b]),
                         "M_min": float(M[b].min()), "M_max": float(M[b].max()),
                         "M_spread": float(M[b].std() / max(M[b].mean(), 1e-12))})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--variant", default="C3", choices=["C3", "STANER"])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config fields by dotted path, as staner-lab cv --set: sgaer.attention.normalise=softmax "
                        "inputs.face_size=128 train.lr=0.003")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    try:
        base, train, prep = configs_with_settings(args.set)
    except ValueError as e:  # a bad --set: say which, without a traceback
        p.error(str(e))
    train = dataclasses.replace(train.with_epochs(args.epochs), seed=args.seed)

    samples, class_names, _ = load_samples(args.data, base.inputs, prep, cache_dir=args.cache, progress=False)
    cfg = ablation_config(dataclasses.replace(base, class_names=tuple(class_names)), args.variant)
    t0 = time.perf_counter()
    folds = []
    with tempfile.TemporaryDirectory() as tmp:
        res = cross_validate(samples, class_names, cfg, train, args.folds, tmp, RunOptions(progress=False), figures=False)
        for k, fold in enumerate(res["folds"]):
            model = load_model(Path(tmp) / f"fold_{k}" / "last.pt")
            test = [s for s in samples if s.subject in set(fold["test_subjects"])]
            rows = localisation(model, test, args.data)
            field50, field90 = cell_field(model, collate([to_item(s, i) for i, s in enumerate(test[:32])])["peak"])
            folds.append({"accuracy": fold["accuracy"], "cell_field_50": field50, "cell_field_90": field90,
                          **{key: float(np.nanmean([r[key] for r in rows]))
                             for key in ("pointing", "mass", "area", "pointing_tol", "area_tol",
                                         "oracle_pointing", "flat_M_changed", "flat_M_shift",
                                         "M_min", "M_max", "M_spread")}})

    def mean(key):
        return round(float(np.mean([f[key] for f in folds])), 4)

    print(json.dumps({
        "data": str(args.data), "variant": args.variant, "folds": args.folds, "epochs": args.epochs,
        "seed": args.seed, "set": args.set, "attention": dataclasses.asdict(base.sgaer.attention),
        "face_size": base.inputs.face_size,
        "accuracy_mean": mean("accuracy"), "accuracy_std": round(float(np.std([f["accuracy"] for f in folds])), 4),
        "pointing_game": mean("pointing"), "mass_inside": mean("mass"), "chance": mean("area"),
        "oracle_pointing_game": mean("oracle_pointing"),
        "flat_M_changed": mean("flat_M_changed"), "flat_M_shift": mean("flat_M_shift"),
        "cell_field_50": mean("cell_field_50"), "cell_field_90": mean("cell_field_90"),
        "pointing_game_15px_at_224": mean("pointing_tol"), "chance_15px_at_224": mean("area_tol"),
        "M_min": mean("M_min"), "M_max": mean("M_max"), "M_spread": mean("M_spread"),
        "per_fold": folds, "wall_time_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
