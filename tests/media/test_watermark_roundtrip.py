"""The forensic watermark through a real codec: embed, encode, leak, decode, detect.

A 4 s 320x180 synthetic clip plays the original evidence. Its Y planes are marked
(source time = frame time), the export is encoded as H.264 yuv420p CRF 23, and the
detector gets ``decoded leak Y - original Y`` (informed detection) with the original's
perceptual mask. Leaks: the export itself, the export downscaled to half size and back
up, the export re-encoded at CRF 35; and a copy of the original that never went
through the export system, which must name nobody.

Every encode here puts a keyframe each second, as bodycams and custodes exports do. A
re-encode with a long keyframe interval is harder (P-frames skip the mark's slow changes
in static areas; about half the score at CRF 35): ``bench/bench_watermark.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from custodes.core import stats
from custodes.core import watermark as wm
from custodes.media.synth import write_bodycam_clip

W, H, FPS = 320, 180, 30
PARAMS = wm.MarkParams()
SECRET = b"roundtrip-vault-secret-0123456789"
ALPHA = 1e-6
N_CANDIDATES = 40


@dataclass
class Footage:
    planes: list[np.ndarray]  # yuv420p frames as PyAV stacks them: (H * 3 / 2, W)
    times: list[float]

    @property
    def luma(self) -> list[np.ndarray]:
        return [p[:H] for p in self.planes]


def decode(path: Path) -> Footage:
    planes: list[np.ndarray] = []
    times: list[float] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            planes.append(frame.to_ndarray(format="yuv420p"))
            times.append(float(frame.time))
    return Footage(planes, times)


def encode(planes: list[np.ndarray], path: Path, crf: int) -> Path:
    height, width = planes[0].shape[0] * 2 // 3, planes[0].shape[1]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx264", rate=Fraction(FPS), options={"crf": str(crf), "preset": "veryfast"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = FPS
        for i, p in enumerate(planes):
            frame = av.VideoFrame.from_ndarray(p, format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@dataclass
class Scene:
    original: Footage
    masks: list[np.ndarray]
    export: Footage
    key: bytes
    work: Path


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    work = tmp_path_factory.mktemp("watermark")
    src = write_bodycam_clip(
        work / "evidence.mp4", seconds=4.0, width=W, height=H, fps=FPS, seed=7, audio=False
    )
    original = decode(src)
    masks = [wm.perceptual_mask(y) for y in original.luma]
    key = wm.derive_key(SECRET, "export-0001")
    embedder = wm.Embedder(key, W, H, PARAMS)
    marked = []
    for planes, y, t, m in zip(original.planes, original.luma, original.times, masks, strict=True):
        out = planes.copy()
        out[:H] = embedder.mark_luma(y, t, m)
        marked.append(out)
    export = decode(encode(marked, work / "export.mp4", crf=23))
    return Scene(original, masks, export, key, work)


def trace(scene: Scene, leak: Footage) -> tuple[float, list[stats.Attribution]]:
    """The right key's score and the verdict over N_CANDIDATES exports + the right one."""
    acc = wm.Accumulator(W, H, PARAMS)
    for y_leak, y0, t, m in zip(
        leak.luma, scene.original.luma, scene.original.times, scene.masks, strict=True
    ):
        acc.add(y_leak.astype(np.float32) - y0.astype(np.float32), t, m)
    others = [wm.derive_key(SECRET, f"export-{i:04d}") for i in range(2, N_CANDIDATES + 2)]
    scores = acc.scores([scene.key, *others])
    null = acc.scores(wm.null_keys(b"roundtrip", 500))
    named = {"export-0001": float(scores[0])}
    named |= {f"export-{i + 2:04d}": float(s) for i, s in enumerate(scores[1:])}
    return float(scores[0]), stats.attribute(
        named, null.tolist(), ALPHA, model_sf=wm.score_tail_bound
    )


def resized(planes: np.ndarray, w: int, h: int) -> np.ndarray:
    h0, w0 = planes.shape[0] * 2 // 3, planes.shape[1]
    chroma = planes[h0:].reshape(-1)
    n = (h0 // 2) * (w0 // 2)
    interp = cv2.INTER_AREA if w < w0 else cv2.INTER_CUBIC
    parts = [cv2.resize(planes[:h0], (w, h), interpolation=interp)]
    for c in (chroma[:n], chroma[n:]):
        parts.append(
            cv2.resize(c.reshape(h0 // 2, w0 // 2), (w // 2, h // 2), interpolation=interp)
        )
    return np.concatenate([p.ravel() for p in parts]).reshape(h * 3 // 2, w)


def half_size_and_back(scene: Scene) -> Footage:
    small = [resized(p, W // 2, H // 2) for p in scene.export.planes]
    leak = decode(encode(small, scene.work / "half.mp4", crf=23))
    return Footage([resized(p, W, H) for p in leak.planes], leak.times)


def recompressed(scene: Scene) -> Footage:
    return decode(encode(scene.export.planes, scene.work / "crf35.mp4", crf=35))


def test_mark_is_faint_before_encoding(scene: Scene) -> None:
    embedder = wm.Embedder(scene.key, W, H, PARAMS)
    y, t, m = scene.original.luma[40], scene.original.times[40], scene.masks[40]
    diff = embedder.mark_luma(y, t, m).astype(np.float64) - y
    psnr = 10 * np.log10(255.0**2 / float(np.mean(diff**2)))
    assert psnr > 45.0


def test_decoded_times_are_the_source_timeline(scene: Scene) -> None:
    assert len(scene.original.times) == 4 * FPS
    assert scene.export.times == pytest.approx(scene.original.times)


@pytest.mark.parametrize(
    "leak_of",
    [lambda s: s.export, half_size_and_back, recompressed],
    ids=["export-crf23", "half-size-and-back", "recompressed-crf35"],
)
def test_leak_names_exactly_its_recipient(
    scene: Scene, leak_of: Callable[[Scene], Footage]
) -> None:
    score, verdict = trace(scene, leak_of(scene))
    threshold = stats.z_threshold(ALPHA, N_CANDIDATES + 1)
    assert score > threshold + 3.0
    assert [a.candidate for a in verdict if a.attributed] == ["export-0001"]
    assert max(a.score for a in verdict if a.candidate != "export-0001") < threshold


def test_copy_that_never_was_exported_names_nobody(scene: Scene) -> None:
    raw_copy = decode(encode(scene.original.planes, scene.work / "raw.mp4", crf=23))
    score, verdict = trace(scene, raw_copy)
    assert abs(score) < 4.5
    assert not [a for a in verdict if a.attributed]
