"""The embedded default: shipped synthetic sample data and the small trained classroom checkpoint.

Both live in the repository's ``data_samples/`` folder (see data_samples/README.md for the commands
that rebuild them). Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from staner_lab.config import PreprocessConfig

__all__ = ["DATA_SAMPLES", "SHIPPED_MODEL_NOTE", "load_shipped_samples", "shipped_checkpoint", "shipped_data_dir"]

DATA_SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"

#: What the shipped checkpoint is, in one sentence, for the app and README (a test keeps them the same;
#: the figure is measured with the command in data_samples/README.md).
SHIPPED_MODEL_NOTE = (
    "The shipped model was trained only on drawn faces the kit generates (80 synthetic people, varied "
    "lighting, pose, blur and noise, each expression in the ways CK+ codes it); on real faces (59 subjects "
    "of CK+) it reads 73.5 % of expressions right, "
    "so for real faces train a model on the class's recordings or on a data set you may use (CK+, "
    "Oulu-CASIA) and pick it with \"Use this model\" or under Checkpoint."
)


def shipped_data_dir() -> Path:
    """``data_samples/synthetic_ckplus``: synthetic sequences in the CK+ layout."""
    path = DATA_SAMPLES / "synthetic_ckplus"
    if not (path / "cohn-kanade-images").is_dir():
        raise FileNotFoundError(
            f"shipped sample data not found at {path}; run from a clone of the repository, or rebuild "
            "it with: staner-lab synth --out data_samples/synthetic_ckplus --subjects 10 --seed 0 --frames 5 --size 96 --noise 0.2 --overwrite")
    return path


def shipped_checkpoint() -> Path:
    """``data_samples/classroom.pt``: the classroom model trained on the shipped data."""
    path = DATA_SAMPLES / "classroom.pt"
    if not path.is_file():
        raise FileNotFoundError(f"shipped checkpoint not found at {path}; rebuild it with the command in "
                                "data_samples/README.md")
    return path


def load_shipped_samples(inputs, progress: bool = False, cache_dir=None):
    """Read and preprocess the shipped data (given landmarks, cached). Returns (samples, class_names)."""
    from staner_lab.data.dataset import load_samples

    samples, class_names, _ = load_samples(shipped_data_dir(), inputs, PreprocessConfig(), layout="ckplus",
                                           cache_dir=cache_dir, on_error="fail", progress=progress)
    return samples, class_names
