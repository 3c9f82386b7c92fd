"""custodes.media.redaction.render: the redacted copy (the independent check uses dlib's HOG
face detector, from the ``dlib-bin`` wheel, a method that shares nothing with CenterFace)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from custodes.core.errors import InvalidInput
from custodes.media.faces import Box, FaceDetector
from custodes.media.redaction import RedactionPlan, apply_redaction, contact_sheet
from custodes.media.synth import SAMPLE_RATE
from tests.media.redaction.clip import SECONDS, Clip, H, N, W, decode_audio, decode_rgb, overlap


def test_no_face_left_for_an_independent_detector(
    clip: Clip, plan: RedactionPlan, redacted: Any, detector: FaceDetector
) -> None:
    dlib = pytest.importorskip("dlib", reason="the second detector ships in dlib-bin")
    hog = dlib.get_frontal_face_detector()

    def dlib_faces_near(rgb: np.ndarray, face: Box) -> list[Box]:
        """dlib's faces (upsampled once) in the face's neighbourhood, in frame pixels."""
        x0, y0 = max(0, int(face.x0 - face.width)), max(0, int(face.y0 - face.height))
        x1, y1 = min(W, int(face.x1 + face.width)), min(H, int(face.y1 + face.height))
        found = hog(np.ascontiguousarray(rgb[y0:y1, x0:x1]), 1)
        return [Box(r.left() + x0, r.top() + y0, r.right() + x0, r.bottom() + y0) for r in found]

    dest, result = redacted
    original, after = decode_rgb(clip.path), decode_rgb(dest)
    assert len(after) == len(original) == N
    assert result.frames == N
    assert result.frames_redacted == len(plan.frames_with_boxes())
    seen_before = 0
    for i, face in clip.faces.items():
        seen_before += any(overlap(b, face) > 0.3 for b in dlib_faces_near(original[i], face))
        left = [b for b in dlib_faces_near(after[i], face) if overlap(b, face) > 0.3]
        assert not left, f"dlib finds the face in redacted frame {i}"
        again = detector.detect(after[i])
        assert not [b for b in again if overlap(b, face) > 0.3], f"CenterFace finds it in {i}"
    assert seen_before >= 0.8 * len(clip.faces)  # the checker does see the face unredacted


def test_box_style_blacks_out(clip: Clip, plan: RedactionPlan, tmp_path: Path) -> None:
    dest = tmp_path / "boxed.mp4"
    res = apply_redaction(clip.path, dest, plan, style="box")
    assert res.style == "box"
    frame = decode_rgb(dest)[30]
    f = clip.faces[30]
    core = frame[round(f.y0) + 4 : round(f.y1) - 4, round(f.x0) + 4 : round(f.x1) - 4]
    assert core.mean() < 20


def test_cut_removes_the_range(clip: Clip, plan: RedactionPlan, tmp_path: Path) -> None:
    dest = tmp_path / "cut.mp4"
    res = apply_redaction(clip.path, dest, plan, cut=[(0.5, 1.0)])
    assert res.frames_cut == 15 and res.frames == N - 15
    assert res.duration_s == pytest.approx(SECONDS - 0.5)
    assert len(decode_rgb(dest)) == N - 15
    assert len(decode_audio(dest)) / SAMPLE_RATE == pytest.approx(SECONDS - 0.5, abs=0.06)
    sheet = tmp_path / "sheet.png"
    shown = contact_sheet(sheet, dest, plan, n=6, cut=[(0.5, 1.0)])
    assert shown and not [i for i in shown if 15 <= i < 30]
    with pytest.raises(InvalidInput, match="every frame"):
        apply_redaction(clip.path, tmp_path / "none.mp4", plan, cut=[(0.0, 5.0)])
    assert not (tmp_path / "none.mp4").exists()


def test_bad_ranges_and_styles_are_refused(clip: Clip, plan: RedactionPlan, tmp_path: Path) -> None:
    for kwargs in ({"mute": [(1.0, 0.5)]}, {"cut": [(-1.0, 0.5)]}, {"style": "smudge"}):
        with pytest.raises(InvalidInput):
            apply_redaction(clip.path, tmp_path / "x.mp4", plan, **kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_the_original_never_changes(
    clip: Clip, plan: RedactionPlan, redacted: Any, tmp_path: Path
) -> None:
    stat = clip.path.stat()
    apply_redaction(clip.path, tmp_path / "again.mp4", plan, mute=[(0.1, 0.2)], cut=[(1.0, 1.2)])
    contact_sheet(tmp_path / "s.png", redacted[0], plan)
    assert hashlib.sha256(clip.path.read_bytes()).hexdigest() == clip.sha256
    assert clip.path.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_plan_for_another_video_is_refused(
    clip: Clip, plan: RedactionPlan, tmp_path: Path
) -> None:
    other = replace(plan, width=640, height=360)
    with pytest.raises(InvalidInput, match="640x360"):
        apply_redaction(clip.path, tmp_path / "o.mp4", other)
    shorter = replace(plan, frames=N - 5, boxes={})
    with pytest.raises(InvalidInput, match="frames"):
        apply_redaction(clip.path, tmp_path / "o.mp4", shorter)
    assert list(tmp_path.iterdir()) == []
