"""staner_lab.app.source: the sidebar's input as a typed Source, and webcam snapshots that are
checked once each (the camera widget returns its photo again on every rerun)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from staner_lab.app.decision import frames_digest
from staner_lab.app.source import Snapshots, Source
from staner_lab.config import PreprocessConfig


def png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_snapshots_are_added_once_in_order_and_a_bad_one_is_refused_with_its_reason():
    snaps = Snapshots()
    snaps.add("a", png(10))
    snaps.add("a", png(10))  # the same photo on the next rerun
    snaps.add("b", png(20))
    snaps.add("c", b"not an image")
    assert [fid for fid, _ in snaps.shots] == ["a", "b"]
    assert snaps.error("a") is None and snaps.error(None) is None
    assert snaps.error("c").startswith("This snapshot was not added: snapshot 3")
    snaps.clear()
    assert snaps.shots == [] and snaps.error("c") is None  # its error went with the sequence
    snaps.add("c", png(30))  # still in the camera after the clear: not added again
    snaps.add("d", png(40))
    assert [fid for fid, _ in snaps.shots] == ["d"]


def test_a_source_says_whether_it_holds_the_users_own_frames():
    prep = PreprocessConfig(landmarks="dlib")
    assert Source("upload", prep=prep).is_media and Source("webcam", prep=prep).is_media
    assert not Source("shipped", sequence_id="S1").is_media and not Source("error", error="x").is_media


def test_frames_digest_follows_the_content():
    a = np.zeros((3, 8, 8), np.uint8)
    b = a.copy()
    b[2, 7, 7] = 1
    assert frames_digest(a) == frames_digest(a.copy()) != frames_digest(b)
