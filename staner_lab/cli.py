"""The ``staner-lab`` command line: one entry point; each package adds its own subcommands.

=========================  ====================================  ==========================
subcommands                what they do                          defined in
=========================  ====================================  ==========================
demo                       the shipped model on a shipped sample  ``staner_lab.teaching.cli``
synth, prepare             synthetic data; preprocessing cache    ``staner_lab.data.cli``
train, cv, ablate,         training, 10-fold protocol, Table 1,   ``staner_lab.training.cli``
evaluate, health           accuracy; training health
predict, live              one file; frame-by-frame recognition   ``staner_lab.live.cli``
=========================  ====================================  ==========================
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from staner_lab.data.cli import add_prepare_parser, add_synth_parser
    from staner_lab.live.cli import add_live_parser, add_predict_parser
    from staner_lab.teaching.cli import add_demo_parser
    from staner_lab.training.cli import add_training_parsers

    parser = argparse.ArgumentParser(
        prog="staner-lab",
        description="STANER teaching and analysis kit: synthetic data, preprocessing, training, "
                    "cross-validation, ablations, prediction. Every command runs offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_parser(sub)
    add_synth_parser(sub)
    add_prepare_parser(sub)
    add_training_parsers(sub)
    add_predict_parser(sub)
    add_live_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        # Errors raised by staner_lab carry the fix in their message; no traceback for users.
        print(f"staner-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
