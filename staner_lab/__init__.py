"""staner-lab: a teaching and analysis kit for STANER (spatio-temporal attention network for FER).

The folders follow the data flow, paper -> model -> data -> training -> explanation -> front ends
(docs/architecture.md walks through it and says where to change what):

    functional.py config.py outputs.py metrics.py   the paper: Eq. 1-16, sizes, named results, measures
    atomic.py device.py                             utilities: atomic files; CPU/CUDA, autocast
    models/      STANER and its parts: VGG front end, attention, SGAER, C-LSTM, TLER, fusion
    data/        raw faces -> Samples: readers/ per layout, landmarks, regions, cache, folds, synthetic/
    training/    fit loop, checkpoints, the protocol (train, cv, ablate) and its result files
    explain/     attributions (captum), agreement with attention, one sample's intermediates
    viz/         plotly figures of all of the above
    live/        streaming recognition that carries LSTM state; predict on one file
    app/         what streamlit_app.py calls: uploads, safe paths, run folders, jobs
    teaching/    notebook helpers, self-checking exercises, the demo
    cli.py       the one ``staner-lab`` entry point; each package adds its subcommands in its cli.py

Dependency rule (tests/test_layout.py reads every import and enforces it):

- the paper layer (functional, config, outputs, metrics) imports nothing of ours;
- atomic and device import only the paper layer; models/ imports only the paper layer;
- data/ imports only the paper layer, atomic, device and itself: never training, explain, viz,
  live, app or teaching;
- explain/ imports paper, models, data; viz/ imports paper, data, explain;
- training/ imports paper, models, data, viz; live/ imports paper, models, data, training;
- front ends (app/, teaching/, each ``cli`` module, streamlit_app.py) import any layer below
  them, but no front end imports another (staner_lab/cli.py only gathers the ``cli`` modules);
- nothing but app/ and streamlit_app.py imports streamlit.
"""

__version__ = "0.1.0"
