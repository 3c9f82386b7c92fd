"""custodes.media.leak: a located leak, frame by frame, on the original's pixel grid."""

from __future__ import annotations

import math
import threading
from collections.abc import Generator
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pytest

from custodes.core.errors import InvalidInput
from custodes.media import threads
from custodes.media.fingerprint import fingerprint_video
from custodes.media.leak import RegisteredFrame, iter_registered_frames, simulate_leak
from custodes.media.locate import SourceMatch, locate
from custodes.media.render import render
from custodes.media.synth import write_bodycam_clip

W, H, FPS = 320, 180, 30


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("leak")


@pytest.fixture(scope="module")
def source(root: Path) -> Path:
    return write_bodycam_clip(
        root / "source.mp4", seconds=8.0, width=W, height=H, fps=FPS, seed=41, audio=False
    )


def _pattern() -> np.ndarray:
    """A smooth +-2 level luma pattern, the kind a forensic mark is made of."""
    rng = np.random.default_rng(5)
    coarse = rng.choice([-1.0, 1.0], size=(9, 16)).astype(np.float32)
    return np.asarray(2.0 * cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC), np.float32)


@pytest.fixture(scope="module")
def marked_export(root: Path, source: Path) -> Path:
    """Seconds 1-7 of the source with the pattern added to every frame."""
    pattern = _pattern()

    def mark(y: np.ndarray, t: float) -> np.ndarray:
        return np.asarray(np.clip(np.rint(y + pattern), 0, 255), np.uint8)

    dest = root / "export.mp4"
    render(source, dest, start_s=1.0, end_s=7.0, hooks=(mark,))
    return dest


def _frames(leak: Path, source: Path, match: SourceMatch) -> tuple[list[RegisteredFrame], int]:
    ticks: list[int] = []
    out = list(iter_registered_frames(leak, source, match, progress=ticks.append))
    return out, sum(ticks)


def test_crop_leak_registers_every_frame(root: Path, source: Path) -> None:
    leak = simulate_leak(
        source, root / "crop.mp4", start_s=2.0, seconds=2.0, transform="crop", seed=1
    )
    match = SourceMatch("src", offset_s=2.0, rate=1.0, score=1.0, confidence=1.0)
    frames, ticks = _frames(leak, source, match)
    assert len(frames) == ticks == 60
    exact = sum(abs(rf.t_src - (2.0 + rf.t_leak)) < 0.5 / FPS for rf in frames)
    assert exact >= 54  # the rest may be a still neighbour, never further
    for rf in frames:
        assert rf.registration is not None
        assert rf.t_src == pytest.approx(2.0 + rf.t_leak, abs=1.5 / FPS)
        assert rf.orig_y.shape == rf.residual.shape == rf.weight.shape == (H, W)
        assert rf.orig_y.dtype == np.uint8
        assert rf.residual.dtype == rf.weight.dtype == np.float32
        assert float(rf.weight.min()) >= 0.0
        assert float(rf.weight.max()) <= 1.0
        used = rf.weight > 0
        assert 0.3 < used.mean() < 0.75  # a 60 % crop, less its rim and overlay text
        rms = math.sqrt(float((rf.residual**2 * rf.weight).sum() / rf.weight.sum()))
        assert rms < 4.0
    assert [rf.index for rf in frames] == list(range(60))


def test_frame_rate_change_picks_the_shown_frames(root: Path, source: Path) -> None:
    leak = simulate_leak(source, root / "fps.mp4", start_s=1.5, seconds=1.2, fps=25, seed=2)
    match = SourceMatch("src", offset_s=1.5, rate=1.0, score=1.0, confidence=1.0)
    frames, _ = _frames(leak, source, match)
    assert len(frames) == 30
    exact = 0
    for rf in frames:
        shown = round((1.5 + rf.t_leak) * FPS) / FPS  # what the converter picked
        # Neighbours can tie when the camera barely moved between them.
        assert abs(rf.t_src - shown) <= 1.001 / FPS
        exact += abs(rf.t_src - shown) < 1e-3
    assert exact >= 27


def test_only_the_matched_stretch_is_walked(root: Path, source: Path) -> None:
    leak = simulate_leak(source, root / "part.mp4", start_s=2.0, seconds=2.0, seed=3)
    match = SourceMatch("src", 2.0, 1.0, 1.0, 1.0, leak_start_s=1.0, leak_end_s=1.5)
    frames, _ = _frames(leak, source, match)
    assert [round(rf.t_leak * FPS) for rf in frames] == list(range(30, 45))


def test_the_mark_comes_back_in_the_residual(root: Path, source: Path, marked_export: Path) -> None:
    """Export (marked) -> leak (scaled, brightened, re-encoded) -> located -> registered
    on the unmarked original: the summed residual is the mark."""
    leak = simulate_leak(
        marked_export, root / "marked_leak.mp4", start_s=1.0, seconds=3.0, transform="tone"
    )
    matches = locate(fingerprint_video(leak), {"src": fingerprint_video(source)})
    assert matches
    match = matches[0]
    assert match.offset_s == pytest.approx(2.0, abs=1 / FPS)
    num = np.zeros((H, W), np.float64)
    den = np.zeros((H, W), np.float64)
    for rf in iter_registered_frames(leak, source, match):
        num += rf.residual * rf.weight
        den += rf.weight
    used = den > 5
    assert used.mean() > 0.5
    # Compare at the mark's own (low) resolution, as the detector does.
    low = cv2.GaussianBlur(num.astype(np.float32), (0, 0), 3.0) / np.maximum(
        cv2.GaussianBlur(den.astype(np.float32), (0, 0), 3.0), 1e-6
    )
    corr = np.corrcoef(low[used], _pattern()[used])[0, 1]
    assert corr > 0.8


def test_simulate_leak_refuses_unknown_transforms(root: Path, source: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown leak transform"):
        simulate_leak(source, root / "x.mp4", start_s=0.0, seconds=1.0, transform="sepia")


def test_stopping_early_stops_the_worker_and_restores_blas(root: Path, source: Path) -> None:
    """Residuals are computed a frame or two ahead on a worker thread, under one BLAS
    thread: a caller that stops early gets its frames in order and the process back as
    it was."""
    controls = threads._openblas_controls()
    before = [get() for _, get in controls]
    leak = simulate_leak(source, root / "early.mp4", start_s=2.0, seconds=1.0, seed=4)
    match = SourceMatch("src", offset_s=2.0, rate=1.0, score=1.0, confidence=1.0)
    frames = cast(Generator[RegisteredFrame], iter_registered_frames(leak, source, match))
    first, second = next(frames), next(frames)
    assert (first.index, second.index) == (0, 1)
    assert all(get() == 1 for _, get in controls)
    frames.close()
    assert [get() for _, get in controls] == before
    assert not [t for t in threading.enumerate() if t.name.startswith("custodes-residual")]
