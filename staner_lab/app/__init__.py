"""The app behind ``streamlit_app.py``.

The page: :mod:`staner_lab.app.sidebar` (checkpoint, input, run folder), :mod:`staner_lab.app.views`
(one module per tab, each ``render(ctx)``), :mod:`staner_lab.app.cached` (Streamlit's caches and the
server's training queue). What they compute, testable without Streamlit:

- :mod:`staner_lab.app.source`: the chosen input as a typed ``Source``; webcam ``Snapshots``.
- :mod:`staner_lab.app.uploads`: uploads and webcam snapshots -> grayscale frames, decoded by
  content with size, frame-count and resolution limits (``InputError``); frames -> a sequence view.
- :mod:`staner_lab.app.paths`: typed checkpoint and run-folder paths, accepted only inside the
  allowed folders (``runs/``, ``data_samples/``, ``$STANER_APP_ALLOW``, ``--allow``); listings.
- :mod:`staner_lab.app.runs`: run folders (``results.json``, ``metrics.csv``, ``table1.csv``,
  ``predictions.csv``) -> a checked ``RunFolder``; the misclassified sequences; the run folder of a
  checkpoint.
- :mod:`staner_lab.app.jobs`: classroom training in a background thread (``TrainingJob``),
  stoppable after each epoch, written to ``<session>/runs/app-<timestamp>/``; the server's queue
  (``TrainingPool``).
- :mod:`staner_lab.app.session`: each browser session's own folder (``session_dir``), idle sweep;
  :mod:`staner_lab.app.settings`: the class settings (environment); :mod:`staner_lab.app.limits`:
  upload, disk and attribution limits (``LimitReached``).
- :mod:`staner_lab.app.explanations`: a captum attribution of the peak face and its agreement with M.
- :mod:`staner_lab.app.streaming`: the streaming recogniser's decision after every frame.
- :mod:`staner_lab.app.live_processor`: one session's live WebRTC recognition (drop, count, record)
  for the Live tab (:mod:`staner_lab.app.views.live`); :mod:`staner_lab.app.recording`: a recording as
  a sequence folder.
- :mod:`staner_lab.app.decision`: cache keys of a Sample and of frames, both branches' votes, the
  decision sentence.

The sequence view and the model's outputs as numpy (``SequenceView``, ``Analysis``, ``fuse``) are
shared with the notebooks: :mod:`staner_lab.explain.inspection`.
"""
