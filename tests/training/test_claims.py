"""Claims tested, not assumed: paired fold differences, the corrected t interval (its quantile against
printed tables), Table 1's claim columns, and one real multi-seed ablation on the shipped data."""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest

from staner_lab.cli import main
from staner_lab.data.shipped import shipped_data_dir
from staner_lab.metrics import (
    claim_verdict,
    confidence_report,
    paired_differences,
    paired_interval,
)
from staner_lab.training.results import table1_claims, write_table1

# t(0.975, df) from printed tables
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 19: 2.093, 29: 2.045,
        120: 1.980}


@pytest.mark.parametrize(("df", "expected"), sorted(T975.items()))
def test_the_interval_uses_the_printed_t_quantile(df, expected):
    """Two differences d = (1, -1) * sqrt(df + 1) ... built so the sample std is 1: the half-width is t."""
    n = df + 1
    d = np.zeros(n)
    d[0], d[1] = math.sqrt(n / 2), -math.sqrt(n / 2)  # mean 0, sum of squares n, std (ddof 1) sqrt(n / (n - 1))
    iv = paired_interval(d)
    half = iv.high - iv.mean
    assert half / (iv.std / math.sqrt(n)) == pytest.approx(expected, abs=5e-4)



def test_paired_differences_pair_by_seed_and_fold():
    a = {(0, 0): 0.6, (0, 1): 0.5, (1, 0): 0.7, (1, 1): 0.4}
    b = {(1, 1): 0.5, (0, 0): 0.5, (1, 0): 0.7, (0, 1): 0.3, (2, 0): 0.9}  # other order; (2, 0) unpaired
    keys, d = paired_differences(a, b)
    assert keys == [(0, 0), (0, 1), (1, 0), (1, 1)]
    np.testing.assert_allclose(d, [0.1, 0.2, 0.0, -0.1])


def test_interval_by_hand_holds_then_not_shown_once_corrected():
    d = [0.01, 0.03, 0.05, 0.07, 0.09]  # mean 0.05, sample variance 0.001, n = 5
    plain = paired_interval(d)
    half = 2.776445 * math.sqrt(0.001 / 5)  # t(0.975, 4) * s / sqrt(n) = 0.039264
    assert plain.mean == pytest.approx(0.05) and plain.std == pytest.approx(math.sqrt(0.001))
    assert (plain.low, plain.high) == pytest.approx((0.05 - half, 0.05 + half), abs=1e-6)
    assert plain.n == 5 and plain.df == 4 and plain.better == 5 and plain.worse == 0
    assert claim_verdict(plain.low, plain.high) == "holds"  # [0.0107, 0.0893]
    # 5-fold CV: 1/4 as many test as training sequences; se = sqrt((1/5 + 1/4) * 0.001) = 0.021213
    corrected = paired_interval(d, test_train_ratio=0.25)
    half = 2.776445 * math.sqrt(0.45 * 0.001)
    assert corrected.se == pytest.approx(math.sqrt(0.00045))
    assert (corrected.low, corrected.high) == pytest.approx((0.05 - half, 0.05 + half), abs=1e-6)
    assert claim_verdict(corrected.low, corrected.high) == "not shown"  # [-0.0089, 0.1089]
    worse = paired_interval([-x for x in d])
    assert claim_verdict(worse.low, worse.high) == "reversed" and worse.worse == 5
    level90 = paired_interval(d, level=0.9)
    assert level90.high - level90.mean == pytest.approx(2.131847 * math.sqrt(0.001 / 5), abs=1e-6)


def test_interval_edge_cases():
    mixed = paired_interval([0.05, -0.05, 0.02, -0.02])
    assert mixed.mean == pytest.approx(0) and mixed.low < 0 < mixed.high
    assert claim_verdict(mixed.low, mixed.high) == "not shown" and (mixed.better, mixed.worse) == (2, 2)
    one = paired_interval([0.1])
    assert one.n == 1 and math.isnan(one.low) and claim_verdict(one.low, one.high) == "not shown"
    flat = paired_interval([0.0, 0.0, 0.0])
    assert (flat.low, flat.high) == (0.0, 0.0) and claim_verdict(flat.low, flat.high) == "not shown"
    with pytest.raises(ValueError):
        paired_interval([0.1, 0.2], test_train_ratio=-1)


def _row(method, accs, seeds=(0, 1), folds=2, test=10, train=30):
    pairs = [[s, k] for s in seeds for k in range(folds)]
    return {"method": method, "accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "folds": folds, "fold_accuracies": list(accs), "pairs": pairs, "test_sizes": [test] * len(pairs),
            "train_sizes": [train] * len(pairs)}


def test_table1_states_each_claim_present(tmp_path):
    rows = [_row("C1", [0.50, 0.40, 0.60, 0.50]),
            _row("C2", [0.20, 0.25, 0.30, 0.25]),
            _row("C3", [0.60, 0.52, 0.68, 0.60]),   # + 0.10 0.12 0.08 0.10 over C1
            _row("STANER", [0.62, 0.51, 0.69, 0.56])]  # + 0.02 -0.01 0.01 -0.04 over C3
    claims = {c["claim"]: c for c in write_table1(tmp_path, rows, 2, "made-up")}
    assert list(claims) == ["C3 > C1", "STANER > C2", "STANER > C3"]  # C4 > C1 needs C4
    ratio = 10 / 30
    for name, d in (("C3 > C1", [0.10, 0.12, 0.08, 0.10]), ("STANER > C3", [0.02, -0.01, 0.01, -0.04]),
                    ("STANER > C2", [0.42, 0.26, 0.39, 0.31])):
        c = claims[name]
        half = T975[3] * math.sqrt((1 / 4 + ratio) * np.var(d, ddof=1))
        assert c["differences"] == pytest.approx(d)
        assert (c["mean"], c["ci_low"], c["ci_high"]) == pytest.approx((np.mean(d), np.mean(d) - half,
                                                                          np.mean(d) + half), abs=2e-4)
        assert c["better_pairs"] == sum(x > 0 for x in d) and c["n"] == 4 and c["test_train_ratio"] == ratio
    assert claims["C3 > C1"]["verdict"] == "holds"  # 0.10 ± 3.182 * sqrt((1/4 + 1/3) * 0.000267) = [0.060, 0.140]
    assert claims["STANER > C2"]["verdict"] == "holds" and claims["STANER > C3"]["verdict"] == "not shown"

    md = (tmp_path / "table1.md").read_text().splitlines()
    assert "2 seeds × 2 folds" in md[0] and "vs C1" in md[0] and "vs C2" in md[0] and "vs C3" in md[0]
    c3 = next(line for line in md if line.startswith("| C3 |"))
    c = claims["C3 > C1"]
    assert (f"{100 * c['mean']:+.2f} [{100 * c['ci_low']:+.2f}, {100 * c['ci_high']:+.2f}]; 4/4 pairs; holds"
            in c3)
    staner = next(line for line in md if line.startswith("| STANER |"))
    assert "; 2/4 pairs; not shown" in staner and "; 4/4 pairs; holds" in staner
    table = {r["method"]: r for r in csv.DictReader((tmp_path / "table1.csv").open())}
    assert list(table) == ["C1", "C2", "C3", "STANER"]
    assert table["C3"]["vs_C1_claim"] == "C3 > C1" and table["C3"]["vs_C1_verdict"] == "holds"
    assert float(table["C3"]["vs_C1_ci_low"]) == pytest.approx(c["ci_low"], abs=1e-6)
    assert table["C1"]["vs_C1_claim"] == "" and table["C3"]["seed_1_fold_1"] == "0.600000"
    assert table["STANER"]["seeds"] == "2" and table["STANER"]["n"] == "4"

    rows[2] = _row("C3", [0.30, 0.20, 0.35, 0.25])  # now well below C1 on every pair
    reversed_claim = {c["claim"]: c for c in table1_claims(rows)}["C3 > C1"]
    assert reversed_claim["verdict"] == "reversed" and reversed_claim["better_pairs"] == 0


CELL = re.compile(r"([+-]\d+\.\d+) \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]; (\d+)/(\d+) pairs; (holds|not shown|reversed)")


@pytest.mark.slow
def test_ablate_two_seeds_on_shipped_data(tmp_path, capsys):
    run = tmp_path / "ab"
    assert main(["ablate", "--data", str(shipped_data_dir()), "--cache", str(tmp_path / "cache"), "--out", str(run),
                 "--seeds", "0", "1", "--folds", "2", "--epochs", "1", "--variants", "C1", "C3",
                 "--no-progress"]) == 0
    # per fold and seed, recomputed from the written predictions
    acc, sizes, subjects = {}, {}, {}
    for v in ("C1", "C3"):
        for s in (0, 1):
            for k in (0, 1):
                fold = run / v / f"seed_{s}" / f"fold_{k}"
                preds = list(csv.DictReader((fold / "predictions.csv").open()))
                acc[v, s, k] = float(np.mean([p["label"] == p["predicted"] for p in preds]))
                subjects[v, s, k] = {p["subject"] for p in preds}
                sizes[s, k] = (len(preds), json.loads((fold / "result.json").read_text())["train_size"])
    assert all(subjects["C1", s, k] == subjects["C3", s, k] for s in (0, 1) for k in (0, 1))  # same folds
    assert subjects["C1", 0, 0] not in (subjects["C1", 1, 0], subjects["C1", 1, 1])  # each seed its own folds
    res = json.loads((run / "C3" / "results.json").read_text())
    assert res["seeds"] == [0, 1] and len(res["folds"]) == 4 and res["folds_per_seed"] == 2
    c3 = [acc["C3", s, k] for s in (0, 1) for k in (0, 1)]
    assert res["accuracy_mean"] == pytest.approx(np.mean(c3)) and res["accuracy_std"] == pytest.approx(np.std(c3))
    assert [a for p in res["per_seed"] for a in p["fold_accuracies"]] == pytest.approx(c3)
    assert json.loads((run / "C3" / "seed_1" / "results.json").read_text())["accuracy_mean"] == pytest.approx(
        np.mean(c3[2:]))

    d = [acc["C3", s, k] - acc["C1", s, k] for s in (0, 1) for k in (0, 1)]
    ratio = sum(t for t, _ in sizes.values()) / sum(n for _, n in sizes.values())
    half = 3.182446 * math.sqrt((1 / 4 + ratio) * np.var(d, ddof=1))
    mean, low, high = np.mean(d), np.mean(d) - half, np.mean(d) + half
    verdict = "holds" if low > 0 else "reversed" if high < 0 else "not shown"
    rows = {r["method"]: r for r in csv.DictReader((run / "table1.csv").open())}
    assert list(rows) == ["C1", "C3"]
    assert float(rows["C3"]["vs_C1_difference"]) == pytest.approx(mean, abs=1e-6)
    assert float(rows["C3"]["vs_C1_ci_low"]) == pytest.approx(low, abs=1e-6)
    assert float(rows["C3"]["vs_C1_ci_high"]) == pytest.approx(high, abs=1e-6)
    assert int(rows["C3"]["vs_C1_better"]) == sum(x > 0 for x in d) and rows["C3"]["vs_C1_verdict"] == verdict
    assert float(rows["C1"]["seed_1_fold_0"]) == pytest.approx(acc["C1", 1, 0], abs=1e-6)
    md = (run / "table1.md").read_text()
    assert md == capsys.readouterr().out.rstrip("\n") + "\n"
    line = next(x for x in md.splitlines() if x.startswith("| C3 |"))
    m = CELL.search(line)
    assert m, line
    assert [float(x) for x in m.groups()[:3]] == pytest.approx([100 * mean, 100 * low, 100 * high], abs=0.006)
    assert (int(m[4]), int(m[5]), m[6]) == (sum(x > 0 for x in d), 4, verdict)
    assert f"| C1 | {100 * np.mean([acc['C1', s, k] for s in (0, 1) for k in (0, 1)]):.2f}% ±" in md


def test_confidence_report_by_hand():
    P = np.array([[0.9, 0.1, 0.0],   # right, sure
                  [0.2, 0.7, 0.1],   # wrong (true 0), fairly sure
                  [0.1, 0.1, 0.8]])  # right
    y = np.array([0, 0, 2])
    rep = confidence_report(P, y)
    assert rep["accuracy"] == pytest.approx(2 / 3)
    assert rep["nll"] == pytest.approx(-(np.log(0.9) + np.log(0.2) + np.log(0.8)) / 3)
    assert rep["confidence"] == pytest.approx((0.9 + 0.7 + 0.8) / 3)
    assert rep["confidence_when_wrong"] == pytest.approx(0.7)
    # a certain wrong answer costs ln(1e12), not infinity; all right: no wrong confidence
    assert confidence_report(np.array([[0.0, 1.0]]), np.array([0]))["nll"] == pytest.approx(-np.log(1e-12))
    assert np.isnan(confidence_report(np.eye(2), np.arange(2))["confidence_when_wrong"])
