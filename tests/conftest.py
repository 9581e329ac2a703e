"""Fixtures shared by the test modules, and the markers of whole modules (pyproject.toml lists them)."""

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skimage_data

from staner_lab.data.dlib_landmarks import DlibBackend

#: Modules whose every test carries a marker; browser, notebooks and cluster tests are also slow.
MODULE_MARKERS = {
    "test_app_browser": "browser",
    "test_app_live_browser": "browser",
    "test_notebooks": "notebooks",
    "test_notebook_figures": "notebooks",
    "test_nbgrader": "notebooks",
    "test_ray_executor": "cluster",
    "test_process_executor": "slow",
}


def pytest_collection_modifyitems(items):
    for item in items:
        marker = MODULE_MARKERS.get(item.module.__name__.rpartition(".")[2])
        if marker is not None:
            item.add_marker(marker)
        if any(item.get_closest_marker(m) for m in ("browser", "notebooks", "cluster")):
            item.add_marker("slow")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The public-domain astronaut portrait shipped by scikit-image, (512, 512) uint8 grayscale."""
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="session")
def landmarks(astronaut) -> np.ndarray:
    """(68, 2) dlib landmarks of the astronaut (real dlib, no tracking)."""
    return DlibBackend(track=False).detect([astronaut]).landmarks[0]


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread: on a busy 2-core machine two threads spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
