"""The app's tabs: one module per view, each with ``render(ctx)`` drawing from a
:class:`~staner_lab.app.views.context.ViewContext`; :data:`VIEWS` maps each tab's title to it, in order."""

from __future__ import annotations

from collections.abc import Callable

from staner_lab.app.views import attention, decision, evaluation, live, lstm, sequence, training
from staner_lab.app.views.context import ViewContext, context

__all__ = ["VIEWS", "ViewContext", "context"]

VIEWS: dict[str, Callable[[ViewContext], None]] = {
    "Sequence": sequence.render,
    "Attention": attention.render,
    "LSTM": lstm.render,
    "Decision": decision.render,
    "Evaluation": evaluation.render,
    "Classroom training": training.render,
    "Live": live.render,
}
