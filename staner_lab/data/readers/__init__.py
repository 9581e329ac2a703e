"""Dataset readers: a dataset folder -> :class:`SequenceRecord` objects (paths, labels, subjects).

Readers look at names only; they never decode pixels (preprocessing does, see ``preprocess.py``).
One module per layout, each documenting its folder tree:

- ``common``  -- DataError, ReadReport, SkippedItem, the ``Reader`` helper (error policy, safe
  folder walking), natural_key, IMAGE_EXTENSIONS / VIDEO_EXTENSIONS.
- ``ckplus``  -- ``read_ckplus``: the original CK+ distribution (cohn-kanade-images/, Emotion/).
- ``oulu``    -- ``read_oulu``, ``oulu_subsets``: Oulu-CASIA (VL/ or NI/ <illumination>/P001/...).
- ``folders`` -- ``read_folders``: one folder per class, holding sequence folders, loose frames
  named <subject>_<sequence>_<frame> or videos.
- ``detect``  -- ``detect_layout``, ``LAYOUTS`` and ``read_dataset``, the one entry point.

Every reader takes ``on_error``: ``"fail"`` raises :class:`DataError` at the first bad item, naming
the file and the fix; ``"skip"`` leaves the item out and lists it in the :class:`ReadReport`. A
label is never guessed. Paths are resolved, and symlinks that lead outside the dataset root are
refused (a dataset folder should not read files from elsewhere on the machine).

To add a layout: write one module here whose ``read_<layout>(root, on_error=..., **options)``
builds a ``Reader`` and returns ``(r.finish(records), r.report)``, then add one line to
``_READERS`` in ``detect.py`` (and a test in ``detect_layout`` if ``layout="auto"`` should find it).

>>> records, class_names, report = read_dataset("~/datasets/CK+")  # doctest: +SKIP
"""

from __future__ import annotations

from staner_lab.data.readers.ckplus import read_ckplus
from staner_lab.data.readers.common import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    DataError,
    OnError,
    ReadReport,
    SkippedItem,
    natural_key,
)
from staner_lab.data.readers.detect import LAYOUTS, detect_layout, read_dataset
from staner_lab.data.readers.folders import read_folders
from staner_lab.data.readers.oulu import oulu_subsets, read_oulu

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "VIDEO_EXTENSIONS",
    "DataError",
    "OnError",
    "ReadReport",
    "SkippedItem",
    "detect_layout",
    "natural_key",
    "oulu_subsets",
    "read_ckplus",
    "read_dataset",
    "read_folders",
    "read_oulu",
]
