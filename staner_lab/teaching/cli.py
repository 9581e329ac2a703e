"""``staner-lab demo``: the shipped model on a shipped sample, printed with its intermediates."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_demo_parser"]


def _demo(args: argparse.Namespace) -> int:
    from staner_lab.teaching.demo import run_demo

    run_demo(seed=args.seed, checkpoint=args.checkpoint)
    return 0


def add_demo_parser(sub) -> None:
    """Add the ``demo`` subcommand to the ``staner-lab`` subparsers."""
    demo = sub.add_parser("demo", help="run the shipped model on a shipped sample; print prediction and intermediates")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--checkpoint", type=Path, default=None, help="a checkpoint (default: the shipped one)")
    demo.set_defaults(func=_demo)
