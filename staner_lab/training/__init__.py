"""Training and the paper's evaluation protocol.

- ``loop.py``: ``fit`` (epochs, optimiser, schedule, resumable checkpoints) and ``predict``.
- ``checkpoint.py``: atomic save, ``weights_only=True`` load, clear errors.
- ``protocol.py``: ``train_run``, ``cross_validate`` (subject-independent k folds), ``ablate`` (Table 1).
- ``executors.py``: who runs the grid of (variant, seed, fold) runs: here, or one Ray task per run.
- ``results.py``: the files of a run folder (predictions, metrics.csv, table1.md/csv, versions).
- ``cli.py``: ``staner-lab train | cv | ablate | evaluate``.
"""
