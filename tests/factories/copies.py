"""Two copies of one export compared as its recipient and a trace see them: the same
frames at the same times, the same sound, the same picture up to encoding noise, and
the same invisible mark (attributed to the export's key at about the same strength).

The encoded video bytes of two renders of one export are not compared: x264 does not
always make the same bytes from the same frames (a render's first in a process can
differ from the next ones), and an export in segments starts a new encoder each segment.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from custodes.core import watermark as wm


def _decode(path: Path) -> tuple[list[float], list[np.ndarray], list[bytes]]:
    with av.open(str(path)) as c:
        frames = [(float(f.time), f.to_ndarray(format="gray")) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return [t for t, _ in frames], [y for _, y in frames], audio


def _score(
    luma: list[np.ndarray], source: list[np.ndarray], times: list[float], key: bytes
) -> float:
    h, w = source[0].shape
    acc = wm.Accumulator(w, h, wm.MarkParams())
    for y, y0, t in zip(luma, source, times, strict=True):
        acc.add(y.astype(np.float32) - y0.astype(np.float32), t, wm.perceptual_mask(y0))
    return acc.score(key)


def assert_same_copy(copy: Path, reference: Path, source: Path, key: bytes) -> None:
    """``copy`` holds what ``reference`` holds (an export of all of ``source``, unscaled,
    marked with ``key``); see the module's note."""
    times, luma, audio = _decode(copy)
    ref_times, ref_luma, ref_audio = _decode(reference)
    src_times, src_luma, _ = _decode(source)
    assert len(times) == len(ref_times) == len(src_times)
    assert np.allclose(times, ref_times, atol=1e-6)
    assert audio == ref_audio  # the same AAC packets
    psnr = [
        10 * np.log10(255.0**2 / max(1e-9, float(np.mean((a.astype(float) - b) ** 2))))
        for a, b in zip(luma, ref_luma, strict=True)
    ]
    assert min(psnr) > 33.0, f"worst frame {min(psnr):.1f} dB"
    mine = _score(luma, src_luma, src_times, key)
    theirs = _score(ref_luma, src_luma, src_times, key)
    other = _score(luma, src_luma, src_times, wm.derive_key(b"another vault secret", "EX-X"))
    assert mine > 8.0 and theirs > 8.0 and abs(mine - theirs) < 0.2 * theirs, (mine, theirs)
    assert abs(other) < 4.5
