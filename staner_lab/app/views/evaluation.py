"""The Evaluation tab: a run folder's accuracy, confusion matrices (summed or per fold), recall,
Table 1 with the paper's claims, training curves, each branch's calibration and the misclassified
sequences."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from staner_lab import viz
from staner_lab.app import cached, paths, runs
from staner_lab.app.views.common import chart
from staner_lab.app.views.context import ViewContext
from staner_lab.training.report import answer_report, branch_rows, reliabilities

SUMMED = -1  # the confusion-matrix choice "summed over folds" (or "held out" for a train run)


def render(ctx: ViewContext) -> None:
    run_dir = ctx.run_dir
    if isinstance(run_dir, str):
        st.error(f"Run folder not used: {run_dir}")
        return
    if run_dir is None:
        st.info("The selected checkpoint has no results.json beside it. Pick a run folder in the sidebar (the --out "
                "folder of staner-lab train, cv or ablate), or train a classroom model in the 'Classroom training' tab.")
        return
    classes = tuple(ctx.model.config.class_names) if ctx.model is not None else None
    try:
        mtime = max(p.stat().st_mtime for p in Path(run_dir).iterdir())
        run, wrong, answers = cached.run_folder(str(run_dir), mtime, classes)
    except (runs.RunFolderError, OSError) as exc:
        st.error(str(exc))
        return
    _panel(run, wrong, answers)


@st.fragment
def _panel(run: runs.RunFolder, wrong: list[dict], answers) -> None:
    head = f"**{paths.display_path(run.path)}**" + (f" — {run.variant}" if run.variant else "")
    if run.accuracy is not None:
        head += f": accuracy {100 * run.accuracy:.1f}%" + (f" ± {100 * run.accuracy_std:.1f}" if run.accuracy_std
                                                            is not None else "")
    st.markdown(head)
    if run.confusion is not None:
        _confusion(run)
    if run.table1:
        chart(viz.ablation_figure(run.table1), key="ablation_chart")
        st.dataframe([{"method": r["method"], "accuracy (%)": round(100 * r["accuracy_mean"], 2),
                       "± std": round(100 * r["accuracy_std"], 2), "folds": r["folds"]} for r in run.table1])
        if run.claims:
            st.markdown("**The paper's claims, tested on paired folds** (95 % interval of the mean difference, "
                        "corrected for overlapping training sets; docs/training.md)")
            st.dataframe(list(run.claims), hide_index=True)
    if run.metrics:
        chart(viz.training_curves_figure(run.metrics), key="curves_chart")
    if answers is not None:
        _calibration(answers)
    if wrong:
        st.subheader(f"Misclassified test sequences ({len(wrong)})")
        st.dataframe(wrong, hide_index=True)


def _confusion(run: runs.RunFolder) -> None:
    summed = "summed over folds" if run.folds else "held out"
    fold = st.radio("Confusion matrix", [SUMMED, *range(len(run.folds))], key="eval_fold", horizontal=True,
                    format_func=lambda k: summed if k == SUMMED else f"fold {k}")
    label = summed if fold == SUMMED else f"fold {fold}"
    counts, normalised = viz.confusion_pair(run.confusion if fold == SUMMED else run.folds[fold], run.class_names,
                                            f" ({label})")
    left, right = st.columns(2)
    with left:
        chart(counts, key="cm_counts")
    with right:
        chart(normalised, key="cm_norm")
    chart(viz.recall_figure(run.class_names, run.recall), key="recall_chart")


def _calibration(answers) -> None:
    """Each branch's accuracy, recall and calibration on the run's test answers (training/report.py)."""
    st.subheader("How far each branch can be trusted")
    if isinstance(answers, str):
        st.warning(answers)
        return
    st.caption("A branch that is often wrong but sure of itself outvotes a better one in Eq. 14. ECE: the gap "
               "between how sure a branch is and how often it is right (0 = calibrated); bars below the diagonal "
               "are over-confident answers. Command line: staner-lab evaluate --run RUN (or --checkpoint CKPT "
               "--data DIR for any data folder).")
    st.dataframe(branch_rows(answer_report(answers)), hide_index=True)
    chart(viz.reliability_figure(reliabilities(answers), "Reliability of the test answers"), key="reliability_chart")
