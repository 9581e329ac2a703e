"""Do STANER's attention and its attributions point at the facial action units? Prints JSON.

For every sequence of a synthetic data set (default: the shipped ``data_samples/synthetic_ckplus``)
and a trained checkpoint (default: ``data_samples/classroom.pt``):

- Spearman rho between the learned attention M (upsampled to S x S) and |map| of each peak-face
  method (Integrated Gradients, Saliency, Grad-CAM on F, Occlusion), SGAER branch, per pixel and
  at M's own resolution (both maps averaged over M's (S/8) x (S/8) cells, ``pool=S/8``);
- pointing game and mass inside the union of the ground-truth AU masks (aligned into the peak-face
  frame with ``align_mask``) for M itself and for each method, with the chance levels (a uniformly
  random pixel hits with probability = mask area fraction; a uniform map has mass = that fraction);
- what the decision owes to where M points: the share of SGAER's decisions that change, and its
  accuracy, when each face's M is replaced by its own mean over positions ("flat") or by 1 - M
  ("inverted"), the rest of SGAER unchanged (``SGAER.logits_with_map``);
- the IG completeness error |delta| (probability units) and how many sequences have a gap
  |f(x) - f(x')| below 0.05 (the baseline already scores like the face: IG has little to share);
- TLER: mean share of each region under region ablation and mean |IG| share per region.

Usage (from the repository root)::

    .venv/bin/python benchmarks/explain_agreement.py [--checkpoint data_samples/classroom.pt]
        [--data data_samples/synthetic_ckplus] [--n-steps 128] [--baseline blur] [--target label]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from staner_lab import explain as E
from staner_lab import functional as Fn
from staner_lab.config import REGIONS, PreprocessConfig
from staner_lab.data.dataset import collate, load_samples, to_item
from staner_lab.data.shipped import shipped_checkpoint, shipped_data_dir
from staner_lab.training.checkpoint import load_model

METHODS = {"integrated_gradients": {}, "saliency": {}, "grad_cam": {"layer": "attention"}, "occlusion": {}}


def _mean(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: data_samples/classroom.pt")
    p.add_argument("--data", type=Path, default=None, help="default: data_samples/synthetic_ckplus")
    p.add_argument("--n-steps", type=int, default=128, help="Integrated Gradients steps")
    p.add_argument("--baseline", default="blur", choices=["black", "blur"], help="peak-face baseline")
    p.add_argument("--target", default="label", choices=["label", "predicted"],
                   help="explain the true class (label) or the SGAER prediction")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on a busy CPU)")
    p.add_argument("--cache-dir", default=None, help="preprocessing cache (default: staner-lab's)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    ckpt = args.checkpoint or shipped_checkpoint()
    root = args.data or shipped_data_dir()
    model = load_model(ckpt)
    prep = PreprocessConfig()
    assert prep.peak == "last", "the AU masks are drawn on the last frame; Sample.landmarks[-1] must be the peak"
    samples, class_names, _ = load_samples(root, model.config.inputs, prep, layout="ckplus",
                                           cache_dir=args.cache_dir, on_error="fail", progress=False)
    S = model.config.inputs.face_size
    pool = S // 8  # one cell of M's grid
    tol = 15 * S / 224  # Zhang et al.'s pointing-game tolerance, 15 px at 224 x 224, at this face size
    seconds = dict.fromkeys([*METHODS, "region_ablation", "region_ig"], 0.0)

    rows: list[dict] = []
    for start in range(0, len(samples), args.batch):
        chunk = samples[start:start + args.batch]
        batch = collate([to_item(s, i) for i, s in enumerate(chunk)])
        peak, regions, labels = batch["peak"], batch["regions"], batch["label"]
        with torch.no_grad():
            g = model.sgaer.forward_intermediates(peak)
            counterfactual = {name: model.sgaer.logits_with_map(g.U, M_c).argmax(1) for name, M_c in
                              {"flat": Fn.flat_attention_map(g.M), "inverted": 1 - g.M}.items()}
        pred = g.P_G.argmax(1)
        target = labels if args.target == "label" else pred
        M = E.upsampled_attention(model, peak)  # (B, S, S)
        maps = {}
        for method, kw in METHODS.items():
            t = time.perf_counter()
            res = E.peak_attribution(model, peak, None, method, target=target, branch="sgaer",
                                     baseline=args.baseline, n_steps=args.n_steps, **kw)
            seconds[method] += time.perf_counter() - t
            maps[method] = res.map
            if method == "integrated_gradients":
                f = E.forward_fn(model, "sgaer")
                with torch.no_grad():
                    gap = (f(peak) - f(E.make_baseline(peak, args.baseline))).gather(1, target[:, None])[:, 0]
                delta = res.delta
        t = time.perf_counter()
        ablation = E.region_ablation(model, peak, regions, target=target, branch="tler")
        seconds["region_ablation"] += time.perf_counter() - t
        t = time.perf_counter()
        rig = E.region_attribution(model, peak, regions, target=target, branch="tler", n_steps=args.n_steps)
        seconds["region_ig"] += time.perf_counter() - t
        rig_abs = np.abs(rig.map).sum(axis=2)  # (B, 3)
        rig_share = rig_abs / np.maximum(rig_abs.sum(axis=1, keepdims=True), 1e-30)
        for b, sample in enumerate(chunk):
            masks = E.load_au_masks(root, sample.sequence_id)
            mask = E.align_mask(E.union_mask(masks), sample.landmarks[-1], S)
            row = {"sequence": sample.sequence_id, "label": class_names[sample.label],
                   "correct": bool(pred[b] == labels[b]), "mask_area": float(mask.mean()),
                   "pointing_M": E.pointing_game(M[b], mask), "mass_M": E.mass_inside(M[b], mask),
                   "pointing_M_tol": E.pointing_game(M[b], mask, tol), "area_tol": E.pointing_chance(mask, tol),
                   **{f"changed_{k}": bool(v[b] != pred[b]) for k, v in counterfactual.items()},
                   **{f"correct_{k}": bool(v[b] == labels[b]) for k, v in counterfactual.items()},
                   "ig_abs_delta": float(abs(delta[b])), "ig_gap": float(gap[b]),
                   "ablation_share": ablation.share[b].tolist(), "ig_region_share": rig_share[b].tolist()}
            for method, m in maps.items():
                row[f"spearman_{method}"] = float(E.attention_agreement(M[b], m[b])[0])
                row[f"spearman_pooled_{method}"] = float(E.attention_agreement(M[b], m[b], pool=pool)[0])
                row[f"pointing_{method}"] = E.pointing_game(m[b], mask)
                row[f"mass_{method}"] = E.mass_inside(m[b], mask)
            rows.append(row)

    summary = {
        "checkpoint": str(ckpt), "checkpoint_sha256": hashlib.sha256(Path(ckpt).read_bytes()).hexdigest(),
        "data": str(root), "sequences": len(rows), "target": args.target,
        "baseline": args.baseline, "n_steps": args.n_steps,
        "sgaer_accuracy": _mean([r["correct"] for r in rows]),
        "chance": {"pointing_game": _mean([r["mask_area"] for r in rows]),
                   "mass_inside": _mean([r["mask_area"] for r in rows])},
        "chance_15px_at_224": _mean([r["area_tol"] for r in rows]),
        "attention_M": {"pointing_game": _mean([r["pointing_M"] for r in rows]),
                        "pointing_game_15px_at_224": _mean([r["pointing_M_tol"] for r in rows]),
                        "mass_inside": _mean([r["mass_M"] for r in rows]),
                        **{f"decisions_changed_{k}": _mean([r[f"changed_{k}"] for r in rows]) for k in ("flat", "inverted")},
                        **{f"sgaer_accuracy_{k}": _mean([r[f"correct_{k}"] for r in rows]) for k in ("flat", "inverted")}},
        "methods": {m: {"spearman_with_M_mean": _mean([r[f"spearman_{m}"] for r in rows]),
                        "spearman_with_M_pooled_mean": _mean([r[f"spearman_pooled_{m}"] for r in rows]),
                        "pointing_game": _mean([r[f"pointing_{m}"] for r in rows]),
                        "mass_inside": _mean([r[f"mass_{m}"] for r in rows]),
                        "seconds": round(seconds[m], 1)} for m in METHODS},
        "ig_completeness": {"abs_delta_median": float(np.median([r["ig_abs_delta"] for r in rows])),
                            "abs_delta_max": float(np.max([r["ig_abs_delta"] for r in rows])),
                            "gap_abs_median": float(np.median([abs(r["ig_gap"]) for r in rows])),
                            "sequences_with_gap_below_0.05": sum(abs(r["ig_gap"]) < 0.05 for r in rows)},
        "tler_region_ablation_share_mean": dict(zip(REGIONS, np.mean([r["ablation_share"] for r in rows], 0).tolist())),
        "tler_ig_abs_share_mean": dict(zip(REGIONS, np.mean([r["ig_region_share"] for r in rows], 0).tolist())),
        "tler_seconds": {"region_ablation": round(seconds["region_ablation"], 1),
                         "region_ig": round(seconds["region_ig"], 1)},
        "seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__, "threads": args.threads,
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
