"""Audio landmarks: a second, independent cue for finding a leak in the archive (issue 20).

Most leaks keep the sound. The motion signals (:mod:`custodes.media.fingerprint`) carry a
match whatever is done to the picture; the sound carries it whatever is done to the
picture *and* to the motion (a camcorded screen, a still, a picture-in-picture), as long
as the sound was kept at its speed. This module is the classic landmark scheme (Wang,
"An industrial-strength audio search algorithm", ISMIR 2003):

* the audio is mixed to mono at :data:`RATE` Hz and cut into frames of
  :data:`FRAME` samples every :data:`HOP` (64 ms frames every 32 ms);
* the **peaks** of the log spectrogram that are the largest in their neighbourhood
  (:data:`PEAK_T` frames by :data:`PEAK_F` bins) and stand above the frame's median
  by :data:`PEAK_DB` dB; at most :data:`PEAKS_PER_S` a second, the strongest;
* each peak (the anchor) is paired with the next :data:`FAN` peaks in a target zone
  after it (1 to :data:`ZONE_T` frames later, within :data:`ZONE_F` bins): a
  **landmark** hashes (anchor bin, bin difference, frame difference) into 22 bits and
  keeps the anchor's frame.

A copy's landmarks are a subset of its source's (compression and a voice-over mixed on
top remove peaks and add others, but keep many), at the same frame differences; so
leak and source landmarks with equal hashes vote for the offset ``source frame - leak
frame``, and a copy piles its votes on one offset while chance spreads them over all.
Landmarks do not survive a change of speed (it moves every bin): the motion cue covers
that. Pure numpy: a 10-minute recording's landmarks take well under a second to make
from decoded samples.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import InvalidInput

__all__ = [
    "RATE",
    "AudioIndex",
    "AudioMatch",
    "Landmarks",
    "audio_landmarks",
    "decode_mono",
    "landmarks_from_samples",
]

RATE = 8000
"""Samples a second the audio is resampled to (speech and sirens live below 4 kHz)."""
FRAME = 512
HOP = 256
FRAME_S = HOP / RATE
"""Seconds between spectrogram frames (32 ms)."""
BINS = 256
"""Frequency bins kept (0 to 4 kHz; the Nyquist bin is dropped)."""
PEAK_T = 15
"""Frames (about 0.5 s) a peak must be the largest over, centred on it."""
PEAK_F = 21
"""Bins a peak must be the largest over, centred on it."""
PEAK_DB = 6.0
"""How far above its frame's median level a peak stands."""
PEAKS_PER_S = 30
FAN = 5
ZONE_T = 63
"""Frames (about 2 s) after the anchor a paired peak may lie."""
ZONE_F = 63
"""Bins above or below the anchor a paired peak may lie."""
MIN_VOTES = 8
"""Votes on one offset below which no match is reported, whatever the odds."""
MAX_LOG10_P = -9.0
"""A match is reported when its votes have a chance below 10**MAX_LOG10_P under the
null (every vote a coincidence, spread evenly over the offsets), corrected for every
offset and source searched."""
VERSION = 1

_I32 = NDArray[np.int32]
_U32 = NDArray[np.uint32]
_F32 = NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Landmarks:
    """One recording's landmarks: ``hashes[k]`` anchored at frame ``frames[k]``."""

    hashes: _U32
    frames: _I32
    duration_s: float

    def __len__(self) -> int:
        return len(self.hashes)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            version=np.int32(VERSION),
            duration=np.float64(self.duration_s),
            hashes=self.hashes.astype(np.uint32),
            frames=self.frames.astype(np.int32),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Landmarks:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                version = int(z["version"])
                duration = float(z["duration"])
                hashes = np.asarray(z["hashes"], np.uint32)
                frames = np.asarray(z["frames"], np.int32)
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise InvalidInput(f"not stored audio landmarks: {exc}") from exc
        if version != VERSION or hashes.shape != frames.shape or hashes.ndim != 1:
            raise InvalidInput(f"audio landmarks format {version} is not {VERSION}")
        return cls(hashes, frames, duration)


def decode_mono(path: Path | str) -> _F32 | None:
    """The first audio stream of ``path`` as mono float32 at :data:`RATE` Hz; None when
    the file has no audio stream."""
    try:
        container: Any = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InvalidInput(f"cannot read {Path(path).name}: {exc}") from exc
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts: list[_F32] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(np.asarray(out.to_ndarray(), np.float32).reshape(-1))
            for out in resampler.resample(None):
                parts.append(np.asarray(out.to_ndarray(), np.float32).reshape(-1))
        except av.error.FFmpegError as exc:
            raise InvalidInput(f"cannot decode the audio of {Path(path).name}: {exc}") from exc
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _spectrogram(samples: _F32) -> _F32:
    """Log magnitude (dB), shape (frames, BINS)."""
    n = 1 + (len(samples) - FRAME) // HOP
    if n <= 0:
        return np.zeros((0, BINS), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(samples, FRAME)[::HOP][:n]
    spec = np.abs(np.fft.rfft(frames * np.hanning(FRAME).astype(np.float32), axis=1))
    return np.asarray(20.0 * np.log10(spec[:, :BINS] + 1e-6), np.float32)


def _max_filter(x: _F32, size: int, axis: int) -> _F32:
    half = size // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    padded = np.pad(x, pad, constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis)
    return np.asarray(win.max(axis=-1), np.float32)


def _peaks(spec: _F32) -> tuple[_I32, _I32]:
    """(frame, bin) of the spectrogram's landmark peaks, in frame order."""
    if len(spec) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    local = _max_filter(_max_filter(spec, PEAK_T, 0), PEAK_F, 1)
    floor = np.median(spec, axis=1, keepdims=True) + PEAK_DB
    t, f = np.nonzero((spec == local) & (spec > floor) & (np.arange(BINS) > 2))
    if len(t) == 0:
        return t.astype(np.int32), f.astype(np.int32)
    # At most PEAKS_PER_S a second: keep the strongest in each second.
    per = max(1, round(1.0 / FRAME_S))
    level = spec[t, f]
    second = t // per
    order = np.lexsort((-level, second))
    rank = np.arange(len(order)) - np.searchsorted(second[order], second[order], side="left")
    keep = order[rank < PEAKS_PER_S]
    keep.sort()
    t, f = t[keep], f[keep]
    by_time = np.lexsort((f, t))
    return t[by_time].astype(np.int32), f[by_time].astype(np.int32)


def landmarks_from_samples(samples: _F32) -> Landmarks:
    """Landmarks of mono float32 samples at :data:`RATE` Hz."""
    samples = np.asarray(samples, np.float32)
    duration = len(samples) / RATE
    t, f = _peaks(_spectrogram(samples))
    n = len(t)
    if n < 2:
        return Landmarks(np.zeros(0, np.uint32), np.zeros(0, np.int32), duration)
    hashes: list[_U32] = []
    anchors: list[_I32] = []
    # Pair each peak with the next FAN in its zone: look ahead over a bounded number of
    # following peaks (a zone holds at most ZONE_T/PEAK_T*... peaks; 4*FAN is ample).
    taken = np.zeros(n, np.int32)
    for step in range(1, 4 * FAN + 1):
        a = np.arange(n - step)
        b = a + step
        dt = t[b] - t[a]
        df = f[b] - f[a]
        ok = (dt >= 1) & (dt <= ZONE_T) & (np.abs(df) <= ZONE_F) & (taken[a] < FAN)
        if not ok.any():
            if (dt > ZONE_T).all():
                break
            continue
        a, dt, df = a[ok], dt[ok], df[ok]
        taken[a] += 1
        h = (
            (f[a].astype(np.uint32) << 14)
            | ((df + 64).astype(np.uint32) << 7)
            | dt.astype(np.uint32)
        )
        hashes.append(h)
        anchors.append(t[a])
    if not hashes:
        return Landmarks(np.zeros(0, np.uint32), np.zeros(0, np.int32), duration)
    return Landmarks(
        np.concatenate(hashes).astype(np.uint32),
        np.concatenate(anchors).astype(np.int32),
        duration,
    )


def audio_landmarks(path: Path | str) -> Landmarks | None:
    """The landmarks of a file's first audio stream; None when it has none."""
    samples = decode_mono(path)
    return None if samples is None else landmarks_from_samples(samples)


@dataclass(frozen=True)
class AudioMatch:
    """The leak's sound is the source's from ``offset_s``: ``t_src = offset_s + t_leak``."""

    source_id: str
    offset_s: float
    votes: int
    """Landmarks of the leak found at this offset."""
    expected: float
    """Votes a chance offset of this source gets on average (the null's mean)."""
    log10_p: float
    """log10 of the chance of this many votes on any offset of any source searched."""


def _log10_poisson_sf(k: int, mean: float) -> float:
    """log10 P(X >= k) for X ~ Poisson(mean) (upper tail, Chernoff-free exact sum)."""
    if k <= 0:
        return 0.0
    mean = max(mean, 1e-12)
    # log of the first term, then the ratio of successive terms; the tail sum of a few
    # hundred terms is exact enough for the decision thresholds used here.
    log_term = k * math.log(mean) - mean - math.lgamma(k + 1)
    total = 0.0
    term = 1.0
    for j in range(k + 1, k + 400):
        total += term
        term *= mean / j
        if term < 1e-17 * total:
            break
    return (log_term + math.log(total)) / math.log(10)


class AudioIndex:
    """An inverted file over many recordings' landmarks: hash -> (recording, frame)."""

    def __init__(self, sources: Iterable[tuple[str, Landmarks]] = ()) -> None:
        items = [(sid, lm) for sid, lm in sources if len(lm)]
        self.ids = [sid for sid, _ in items]
        self.frames_of = np.array(
            [max(1, round(lm.duration_s / FRAME_S)) for _, lm in items], np.int64
        )
        if items:
            hashes = np.concatenate([lm.hashes for _, lm in items])
            frames = np.concatenate([lm.frames for _, lm in items]).astype(np.int32)
            owner = np.concatenate(
                [np.full(len(lm), i, np.int32) for i, (_, lm) in enumerate(items)]
            )
        else:
            hashes = np.zeros(0, np.uint32)
            frames = np.zeros(0, np.int32)
            owner = np.zeros(0, np.int32)
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._frames = frames[order]
        self._owner = owner[order]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return int(self._hashes.nbytes + self._frames.nbytes + self._owner.nbytes)

    def search(self, leak: Landmarks, *, limit: int = 5) -> list[AudioMatch]:
        """The offsets whose votes no chance explains, best first (at most ``limit``)."""
        if not len(leak) or not len(self._hashes):
            return []
        lo = np.searchsorted(self._hashes, leak.hashes, side="left")
        hi = np.searchsorted(self._hashes, leak.hashes, side="right")
        cnt = hi - lo
        total = int(cnt.sum())
        if total == 0:
            return []
        which = np.repeat(np.arange(len(leak)), cnt)
        idx = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(total)
        owner = self._owner[idx].astype(np.int64)
        offset = self._frames[idx].astype(np.int64) - leak.frames[which].astype(np.int64)
        span = int(self.frames_of.max()) + int(leak.frames.max()) + 2
        key = owner * (2 * span) + (offset + span)
        keys, votes = np.unique(key, return_counts=True)
        # Pool an offset with its neighbours (frame rounding splits a peak in two).
        pooled = votes.copy()
        for d in (-1, 1):
            pos = np.clip(np.searchsorted(keys, keys + d), 0, len(keys) - 1)
            hit = keys[pos] == keys + d
            pooled[hit] = np.maximum(pooled[hit], votes[hit] + votes[pos[hit]])
        per_source = np.bincount(keys // (2 * span), weights=votes, minlength=len(self.ids))
        offsets_total = float(
            sum(int(self.frames_of[i]) + int(leak.frames.max()) for i in range(len(self.ids)))
        )
        out: list[AudioMatch] = []
        seen: list[tuple[int, int]] = []
        for i in np.argsort(-pooled, kind="stable"):
            if len(out) >= limit:
                break
            k = int(pooled[i])
            if k < MIN_VOTES:
                break
            src = int(keys[i] // (2 * span))
            off = int(keys[i] % (2 * span)) - span
            if any(s == src and abs(o - off) <= 2 for s, o in seen):
                continue
            seen.append((src, off))
            n_offsets = int(self.frames_of[src]) + int(leak.frames.max()) + 1
            mean = 2.0 * float(per_source[src]) / max(1, n_offsets)  # two offsets pooled
            log10_p = _log10_poisson_sf(k, mean) + math.log10(max(1.0, offsets_total))
            if log10_p > MAX_LOG10_P:
                continue
            out.append(AudioMatch(self.ids[src], off * FRAME_S, k, round(mean, 3), log10_p))
        return out
