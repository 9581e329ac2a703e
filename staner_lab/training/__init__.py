"""Training and the paper's evaluation protocol.

- ``loop.py``: ``fit`` (epochs, optimiser, schedule, resumable checkpoints) and ``predict``.
- ``checkpoint.py``: atomic save, ``weights_only=True`` load, clear errors.
- ``fold.py``: one run (``FoldRun``: a model trained on one split and tested on the rest, ``run_fold``)
  and how it is carried out (``RunOptions``: device, amp, resume, overwrite, progress, workers).
- ``protocol.py``: ``train_run``, ``cross_validate`` (subject-independent k folds), ``ablate`` (Table 1).
- ``executors.py``: who runs the grid of (variant, seed, fold) runs (an ``Executor``): here, side by
  side in processes, or one Ray task per run.
- ``results.py``: the files of a run folder (predictions, metrics.csv, table1.md/csv, versions).
- ``cli.py``: ``staner-lab train | cv | ablate | evaluate``.
"""
