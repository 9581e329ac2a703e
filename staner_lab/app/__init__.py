"""Everything ``streamlit_app.py`` needs that is not layout or plotting, testable without Streamlit.

- :mod:`staner_lab.app.uploads`: uploads and webcam snapshots -> grayscale frames, decoded by
  content with size, frame-count and resolution limits (``InputError``); frames -> a sequence view.
- :mod:`staner_lab.app.paths`: typed checkpoint and run-folder paths, accepted only inside the
  allowed folders (``runs/``, ``data_samples/``, ``$STANER_APP_ALLOW``, ``--allow``); listings.
- :mod:`staner_lab.app.runs`: run folders (``results.json``, ``metrics.csv``, ``table1.csv``,
  ``predictions.csv``) -> a checked ``RunFolder``; the misclassified sequences.
- :mod:`staner_lab.app.jobs`: classroom training in a background thread (``TrainingJob``),
  stoppable after each epoch, written to ``runs/app-<timestamp>/``.
- :mod:`staner_lab.app.explanations`: a captum attribution of the peak face and its agreement with M.
- :mod:`staner_lab.app.streaming`: the streaming recogniser's decision after every frame.
- :mod:`staner_lab.app.decision`: a Sample's cache key, both branches' votes, the decision sentence.

The sequence view and the model's outputs as numpy (``SequenceView``, ``Analysis``, ``fuse``) are
shared with the notebooks: :mod:`staner_lab.explain.inspection`.
"""
