"""STANER lab: what the model sees, from a shipped sample, an upload or a webcam.

    streamlit run streamlit_app.py                                # shipped data and checkpoint, offline
    streamlit run streamlit_app.py -- --allow ~/experiments/runs  # also read run folders there

The page: setup, the sidebar (staner_lab.app.sidebar) and the tabs, one module per view under
staner_lab/app/views/. Everything they compute lives in staner_lab.app, staner_lab.explain and
staner_lab.viz. See docs/app.md.
"""

from __future__ import annotations

import argparse
import sys

import streamlit as st
import torch

from staner_lab.app import cached, paths, session, settings, sidebar
from staner_lab.app.views import VIEWS, context

#: Torch intra-op threads. The app's batches are tiny; with two threads on a busy 2-core machine the
#: threads spin waiting for each other and every model run took 5-15 times longer (docs/app.md).
TORCH_THREADS = 1


def main() -> None:
    torch.set_num_threads(TORCH_THREADS)  # also for the training thread, which starts later
    # An emoji icon is drawn by the browser (a data: URL); Material icons come from fonts.gstatic.com.
    st.set_page_config(page_title="STANER lab", page_icon="🙂", layout="wide")
    space = class_session()
    roots = paths.allowed_roots([*command_line().allow, space.dir("runs")])  # this session's runs, no other's
    st.sidebar.title("STANER lab")
    ckpt, ckpt_error = sidebar.checkpoint(roots)
    model, model_error = sidebar.model_of(ckpt, ckpt_error)
    source = sidebar.source(model, ckpt)
    run_dir = sidebar.run_folder(roots, ckpt)

    st.title("STANER: what the model sees")
    if model_error:
        st.error(model_error)
    ctx = context(model, ckpt, source, run_dir)
    if ctx.input_error:
        st.error(ctx.input_error)
    # Only the open tab runs (a tab switch reruns the page): the first page draws the Sequence view
    # without waiting for the model views, the attribution (captum) or the training-health table.
    for tab, render in zip(st.tabs(list(VIEWS), key="view", on_change="rerun"), VIEWS.values()):
        if tab.open:
            with tab:
                render(ctx)


def command_line() -> argparse.Namespace:
    """Options after ``--``: ``streamlit run streamlit_app.py -- --allow DIR``."""
    parser = argparse.ArgumentParser(prog="streamlit run streamlit_app.py --", allow_abbrev=False)
    parser.add_argument("--allow", action="append", default=[], metavar="DIR",
                        help=f"also read checkpoints and run folders inside DIR (or set ${paths.ALLOW_ENV})")
    return parser.parse_known_args(sys.argv[1:])[0]


def class_session() -> session.SessionSpace:
    """This browser session's folder (uploads, recordings, runs); idle sessions' folders are removed."""
    try:
        idle = settings.class_settings().idle_minutes
    except settings.SettingError as exc:
        st.error(f"The server's settings are wrong: {exc} (docs/app.md, 'Running the app for a class')")
        st.stop()
    space = session.current()
    session.sweep(idle * 60, cached.training_pool().active_dirs(), every=60)
    return space


if __name__ == "__main__":
    main()
