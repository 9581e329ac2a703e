"""The classroom front end: what the notebooks import besides the library itself.

- ``notebook.py``: helpers for the lessons (budgets in fast mode, new synthetic people, α sweeps,
  the leaky split); imported in the notebooks as ``nb``.
- ``exercises/``: self-checking exercises, one module per topic, with hints for typical mistakes.
- ``demo.py`` and ``cli.py``: ``staner-lab demo``.
"""
