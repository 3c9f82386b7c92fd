"""Find which evidence, and which seconds of it, a leaked clip came from.

Input: the :class:`~custodes.media.fingerprint.Fingerprint` of the leak and those of
the candidate sources (the vault caches one per evidence). Output: matches
``t_src = offset_s + rate * t_leak`` (both on the videos' own clocks, in seconds),
best first.

How. Every fingerprint column is a rate of change (of mean luma, translation, zoom,
rotation). Integrated, resampled on a common time grid of ``hz = min(fps_leak,
fps_source, 30)`` samples a second and differenced again, the signals of a 25 fps
leak and of its 30 fps source become comparable sample by sample. Each signal is
whitened (its amplitude spectrum flattened, as the phase transform of generalised
cross-correlation does: Knapp and Carter, IEEE TASSP 1976), so that the nearly
periodic sway of a walking officer, alike in unrelated videos, does not dominate;
then normalised by a running RMS (an automatic gain control, so quiet and busy
stretches weigh alike) and clipped at :data:`_CLIP` to blunt cuts and banner changes.
The leak is slid along each source at every offset at once with the masked
normalised cross-correlation computed by FFT (Padfield, "Masked object registration
in the Fourier domain", IEEE TIP 2012), which also scores offsets where the leak only
partly overlaps the source. For a speed-changed leak the leak is resampled at a few
rates. A mirrored leak flips the sign of ``vx`` and ``vr``: both signs are scored
from the same correlations.

Per offset the channel correlations ``r_c`` over ``n`` common samples make
``Z = sqrt(n / C) * sum_c r_c``, about standard normal for unrelated footage. ``Z`` is
recalibrated against its own median and spread over all offsets of that source (the
empirical null: periodic walking sway inflates it) and a Bonferroni count of the
offsets, rates and signs tried gives :attr:`SourceMatch.confidence`. A match is
reported only when ``score`` (the mean channel correlation at the peak, 1.0 for an
exact copy) reaches :data:`MIN_SCORE` and the calibrated peak reaches :data:`MIN_Z`.

The peak is refined directly (no FFT) to an eighth of a grid step and a parabola, and
its extent along the leak is the run of samples whose agreement most exceeds half the
match's score (a maximum-sum subarray, Kadane's algorithm). A leak made
of several pieces (a news edit) yields one match per piece: the rest of the leak is
searched again while a piece of at least :data:`MIN_SEGMENT_S` remains.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from custodes.media.fingerprint import FEATURES, Fingerprint

__all__ = [
    "MAX_GRID_HZ",
    "MIN_SCORE",
    "MIN_SEGMENT_S",
    "MIN_Z",
    "SourceMatch",
    "best_per_source",
    "grid_signals",
    "locate",
    "match_profile",
    "mirror_signs",
]

MAX_GRID_HZ = 30.0
"""Highest sampling rate of the common time grid."""
MIN_SCORE = 0.3
"""Least mean channel correlation of a reported match (unrelated footage: below 0.2)."""
MIN_Z = 6.0
"""Least calibrated peak height, in robust standard deviations of the null."""
MIN_SEGMENT_S = 4.0
"""Shortest piece of a leak searched on its own."""

_CLIP = 4.0  # normalised signals are clipped at this many running RMS
_AGC_S = 4.0  # running RMS window, seconds
_LOCAL_S = 2.0  # smoothing of the local agreement shown by match_profile
_WHITEN_HZ = 0.25  # spectral smoothing of the whitening, Hz
_F64 = NDArray[np.float64]
# Sign of each feature under a left-right mirror: vx and vr flip.
_MIRROR = np.array([-1.0 if f in ("vx", "vr") else 1.0 for f in FEATURES])


@dataclass(frozen=True)
class SourceMatch:
    """A stretch of a leak found in a source: ``t_src = offset_s + rate * t_leak``.

    ``score`` is the mean normalised correlation of the fingerprint channels at the
    match (1.0 for an exact copy, about 0.9 for a typical re-encode, 0.5 for a phone
    filming a monitor, under 0.2 for unrelated footage). ``confidence`` is one minus
    a Bonferroni-bounded chance that a peak this high arises by chance in the offsets
    searched. ``leak_start_s``/``leak_end_s`` delimit the stretch of the leak (on its
    own clock) that the mapping covers.
    """

    source_id: str
    offset_s: float
    rate: float
    score: float
    confidence: float
    mirrored: bool = False
    leak_start_s: float = 0.0
    leak_end_s: float = math.inf
    z: float = 0.0

    def to_source(self, t_leak: float) -> float:
        """The source time a leak time maps to."""
        return self.offset_s + self.rate * t_leak

    @property
    def source_start_s(self) -> float:
        return self.to_source(self.leak_start_s)

    @property
    def source_end_s(self) -> float:
        return self.to_source(self.leak_end_s)


# --------------------------------------------------------------------------- signals


def _positions(fp: Fingerprint) -> _F64:
    """(C, n) running sums of the features: mean luma, position, log-scale, angle."""
    return np.cumsum(np.asarray(fp.feats, np.float64), axis=0).T


def _sample(times: _F64, pos: _F64, at: _F64) -> _F64:
    """Positions linearly interpolated at ``at`` (C, len(at))."""
    return np.stack([np.interp(at, times, p) for p in pos])


def _moving_mean(x: _F64, width: int) -> _F64:
    """Centred moving mean along the last axis, shrinking at the ends."""
    width = max(1, min(width, x.shape[-1]))
    c = np.cumsum(np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 0)]), axis=-1)
    n = x.shape[-1]
    half = width // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) - half + width, 0, n)
    return (c[..., hi] - c[..., lo]) / (hi - lo)


def _whiten(sig: _F64, hz: float) -> _F64:
    """Flatten each channel's amplitude spectrum (smoothed over ``_WHITEN_HZ``).

    Every frequency then weighs alike in the correlation (the phase transform of
    generalised cross-correlation): the sway of a walking officer, strong and nearly
    periodic, and the same in unrelated videos, no longer dominates.
    """
    n = sig.shape[1]
    if n < 16:
        return sig
    spec = np.fft.rfft(sig - sig.mean(axis=1, keepdims=True), axis=1)
    mag = np.abs(spec)
    width = max(3, round(_WHITEN_HZ * n / hz))
    smooth = _moving_mean(mag, width)
    smooth += 1e-6 * smooth.mean(axis=1, keepdims=True) + 1e-30
    return np.fft.irfft(spec / smooth, n, axis=1)


def _normalise(sig: _F64, hz: float) -> _F64:
    """Whitening, running-RMS gain control and clipping, per channel (C, n) -> (C, n)."""
    x = _whiten(sig, hz)
    x = x - np.median(x, axis=1, keepdims=True)
    power = _moving_mean(x * x, round(_AGC_S * hz))
    floor = 0.01 * np.median(power, axis=1, keepdims=True) + 1e-20
    out = x / np.sqrt(power + floor)
    return np.clip(out, -_CLIP, _CLIP)


@dataclass(frozen=True)
class _Grid:
    """A fingerprint's signals on a uniform grid starting at ``t0``."""

    t0: float
    hz: float
    sig: _F64  # (C, n) normalised velocities; sample k spans [t0 + k/hz, t0 + (k+1)/hz]


def _source_grid(fp: Fingerprint, hz: float) -> _Grid:
    times = np.asarray(fp.times, np.float64)
    n = math.floor((times[-1] - times[0]) * hz + 1e-6)
    at = times[0] + np.arange(n + 1) / hz
    pos = _sample(times, _positions(fp), at)
    return _Grid(float(times[0]), hz, _normalise(np.diff(pos, axis=1), hz))


def _leak_grid(fp: Fingerprint, hz: float, rate: float, start: float, end: float) -> _Grid:
    """The leak between its times ``start`` and ``end`` resampled so that one sample
    spans 1/hz seconds of *source* time at speed ``rate``."""
    times = np.asarray(fp.times, np.float64)
    n = math.floor((end - start) * rate * hz + 1e-6)
    at = start + np.arange(n + 1) / (rate * hz)
    pos = _sample(times, _positions(fp), at)
    return _Grid(start, hz, _normalise(np.diff(pos, axis=1), hz))


def grid_signals(
    fp: Fingerprint,
    hz: float,
    *,
    rate: float = 1.0,
    start: float | None = None,
    end: float | None = None,
) -> tuple[float, _F64]:
    """The normalised signals the search correlates: ``(t0, sig)``, sig (C, n).

    Sample k spans source seconds ``[k/hz, (k+1)/hz)`` from ``t0`` (the fingerprint's
    first frame, or ``start``). With ``rate`` != 1 (or a ``start``/``end``), the video
    is treated as a leak played ``rate`` times faster than its source, so that each
    sample still spans 1/hz seconds of *source* time. :mod:`custodes.media.archive`
    builds its keys from these signals.
    """
    if start is None and end is None and rate == 1.0:
        g = _source_grid(fp, hz)
    else:
        lo = float(fp.times[0]) if start is None else start
        hi = float(fp.times[-1]) if end is None else end
        g = _leak_grid(fp, hz, rate, lo, hi)
    return g.t0, g.sig


def mirror_signs() -> _F64:
    """Per-channel signs that undo a left-right mirror (vx and vr flip)."""
    return _MIRROR.copy()


# ------------------------------------------------------------------ masked xcorr


def _fft_len(n: int) -> int:
    """Smallest 2^a * 3^b >= n (fast for numpy's pocketfft)."""
    best = 1 << max(0, (n - 1).bit_length())
    p3 = 1
    while p3 < best:
        p2 = p3
        while p2 < n:
            p2 *= 2
        best = min(best, p2)
        p3 *= 3
    return best


@dataclass
class _SourceSpectra:
    """Forward FFTs of a source's grid terms, reused for every rate tried."""

    grid: _Grid
    nfft: int
    mask: NDArray[np.complex128]  # F[mb]
    b: NDArray[np.complex128]  # F[b * mb] per channel
    bb: NDArray[np.complex128]  # F[b^2 * mb]


def _spectra(grid: _Grid, nfft: int) -> _SourceSpectra:
    b = grid.sig
    return _SourceSpectra(
        grid=grid,
        nfft=nfft,
        mask=np.fft.rfft(np.ones(b.shape[1]), nfft),
        b=np.fft.rfft(b, nfft, axis=1),
        bb=np.fft.rfft(b * b, nfft, axis=1),
    )


def _masked_ncc(a: _F64, src: _SourceSpectra) -> tuple[_F64, _F64]:
    """Pearson correlation of leak ``a`` (C, m) with the source at every offset.

    Returns ``(r, n)``: r (C, L) and overlap counts n (L,), for offsets
    ``j = -(m-1) .. N-1`` (index ``j + m - 1``), where leak sample i meets source
    sample i + j. Out-of-range samples simply do not count (Padfield 2012).
    """
    m = a.shape[1]
    nb = src.grid.sig.shape[1]
    nfft = src.nfft

    def corr(fa: NDArray[np.complex128], fb: NDArray[np.complex128]) -> _F64:
        c = np.fft.irfft(np.conj(fa) * fb, nfft, axis=-1)
        # c[k] = sum_i a_i b_{i+k}; negative k wrap to the end.
        return np.concatenate([c[..., nfft - (m - 1) :], c[..., :nb]], axis=-1)

    fm = np.fft.rfft(np.ones(m), nfft)
    fa = np.fft.rfft(a, nfft, axis=1)
    faa = np.fft.rfft(a * a, nfft, axis=1)
    n = np.rint(corr(fm, src.mask))
    sa = corr(fa, src.mask[None, :])
    saa = corr(faa, src.mask[None, :])
    sb = corr(fm[None, :], src.b)
    sbb = corr(fm[None, :], src.bb)
    sab = corr(fa, src.b)
    nn = np.maximum(n, 1.0)
    num = sab - sa * sb / nn
    va = np.maximum(saa - sa * sa / nn, 0.0)
    vb = np.maximum(sbb - sb * sb / nn, 0.0)
    den = np.sqrt(va * vb)
    r = np.where(den > 1e-9 * nn, num / np.maximum(den, 1e-300), 0.0)
    return np.clip(r, -1.0, 1.0), n


# ------------------------------------------------------------------------ search


@dataclass(frozen=True)
class _Peak:
    source_id: str
    z: float  # calibrated
    offset_s: float
    rate: float
    mirrored: bool
    tests: int


def _rates(duration: float, hz: float, max_speed_change: float) -> list[float]:
    if max_speed_change <= 0:
        return [1.0]
    # One grid sample of drift over the piece between neighbouring rates.
    step = max(1.0 / max(hz * duration, 1.0), 0.002)
    k = math.ceil(max_speed_change / step)
    return [1.0 + i * step for i in range(-k, k + 1)]


def _search_source(
    source_id: str,
    leak: Fingerprint,
    spectra: _SourceSpectra,
    start: float,
    end: float,
    max_speed_change: float,
) -> _Peak | None:
    grid = spectra.grid
    hz = grid.hz
    best: _Peak | None = None
    zs_all: list[_F64] = []
    peaks: list[tuple[float, int, float, bool, int]] = []
    for rate in _rates(end - start, hz, max_speed_change):
        lg = _leak_grid(leak, hz, rate, start, end)
        m = lg.sig.shape[1]
        if m < 8:
            return None
        r, n = _masked_ncc(lg.sig, spectra)
        c = r.shape[0]
        min_overlap = min(m, max(round(MIN_SEGMENT_S * hz * 0.75), round(0.5 * m)))
        ok = n >= min_overlap
        if not ok.any():
            continue
        scale = np.sqrt(n / c)
        for mirrored in (False, True):
            signs = _MIRROR if mirrored else np.ones(c)
            z = np.where(ok, scale * (signs[:, None] * r).sum(axis=0), np.nan)
            zs_all.append(z[ok])
            j = int(np.nanargmax(z))
            peaks.append((float(z[j]), j - (m - 1), rate, mirrored, int(ok.sum())))
    if not peaks:
        return None
    allz = np.concatenate(zs_all)
    med = float(np.median(allz))
    spread = 1.4826 * float(np.median(np.abs(allz - med)))
    spread = max(spread, 0.5)
    tests = len(allz)
    for zval, j, rate, mirrored, _count in peaks:
        zc = (zval - med) / spread
        # Leak sample i meets source sample i + j: source time t0 + (i + j)/hz is leak
        # time start + i/(rate*hz), so t_src = t0 + j/hz - rate*start + rate*t_leak.
        offset = grid.t0 + j / hz - rate * start
        if best is None or zc > best.z:
            best = _Peak(source_id, zc, offset, rate, mirrored, tests)
    return best


def _pair_signals(
    leak: Fingerprint,
    src: Fingerprint,
    hz: float,
    offset: float,
    rate: float,
    start: float,
    end: float,
) -> tuple[_F64, _F64, NDArray[np.bool_]]:
    """Leak and source signals sample by sample under a mapping, with a validity mask."""
    lt = np.asarray(leak.times, np.float64)
    st = np.asarray(src.times, np.float64)
    n = math.floor((end - start) * rate * hz + 1e-6)
    at = start + np.arange(n + 1) / (rate * hz)
    la = np.diff(_sample(lt, _positions(leak), at), axis=1)
    sat = offset + rate * at
    sb = np.diff(_sample(st, _positions(src), sat), axis=1)
    valid = (sat[:-1] >= st[0]) & (sat[1:] <= st[-1])
    return la, sb, valid


def _score_at(
    leak: Fingerprint,
    src: Fingerprint,
    hz: float,
    offset: float,
    rate: float,
    mirrored: bool,
    start: float,
    end: float,
) -> float:
    la, sb, valid = _pair_signals(leak, src, hz, offset, rate, start, end)
    if valid.sum() < 8:
        return -1.0
    a = _normalise(la[:, valid], hz)
    b = _normalise(sb[:, valid], hz)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    r = np.where(den > 1e-12, (a * b).sum(axis=1) / np.maximum(den, 1e-300), 0.0)
    signs = _MIRROR if mirrored else np.ones(len(r))
    return float((signs * r).mean())


def _refine(
    leak: Fingerprint,
    src: Fingerprint,
    hz: float,
    peak: _Peak,
    start: float,
    end: float,
    max_speed_change: float,
) -> tuple[float, float, float]:
    """Best (offset, rate, score) near a peak: an eighth of a grid step, then a parabola."""
    step = 1.0 / (8.0 * hz)
    rates = [peak.rate]
    if max_speed_change > 0:
        d = max(1.0 / max(hz * (end - start), 1.0), 0.002) / 4
        rates = [peak.rate + k * d for k in range(-3, 4)]
    best = (peak.offset_s, peak.rate, -2.0)
    for rate in rates:
        # Keep the middle of the piece fixed while the rate varies.
        mid = 0.5 * (start + end)
        base = peak.offset_s + (peak.rate - rate) * mid
        offs = base + step * np.arange(-10, 11)
        scores = [_score_at(leak, src, hz, o, rate, peak.mirrored, start, end) for o in offs]
        k = int(np.argmax(scores))
        if scores[k] > best[2]:
            off = float(offs[k])
            if 0 < k < len(offs) - 1:
                y0, y1, y2 = scores[k - 1], scores[k], scores[k + 1]
                den = y0 - 2 * y1 + y2
                if den < 0:
                    off += step * 0.5 * (y0 - y2) / den
            best = (off, rate, float(scores[k]))
    off, rate, _ = best
    return off, rate, _score_at(leak, src, hz, off, rate, peak.mirrored, start, end)


def match_profile(
    leak: Fingerprint,
    src: Fingerprint,
    match: SourceMatch,
    *,
    start: float | None = None,
    end: float | None = None,
    smooth_s: float = _LOCAL_S,
) -> tuple[_F64, _F64]:
    """Local agreement along the leak under a match: (leak times, local correlation).

    The per-sample product of the normalised channels (sign-corrected for a mirror),
    averaged over ``smooth_s`` seconds: about the match score where the mapping holds
    and about 0 elsewhere.
    """
    hz = _grid_hz(leak, src)
    lo = float(leak.times[0]) if start is None else start
    hi = float(leak.times[-1]) if end is None else end
    la, sb, valid = _pair_signals(leak, src, hz, match.offset_s, match.rate, lo, hi)
    a = _normalise(la, hz)
    b = _normalise(sb, hz)
    signs = _MIRROR if match.mirrored else np.ones(a.shape[0])
    prod = np.where(valid, (signs[:, None] * a * b).mean(axis=0), 0.0)
    if smooth_s > 0:
        prod = _moving_mean(prod[None, :], round(smooth_s * hz))[0]
    t = lo + (np.arange(len(prod)) + 0.5) / (match.rate * hz)
    return np.asarray(t, np.float64), np.asarray(prod, np.float64)


def _support(t: _F64, prod: _F64, score: float) -> tuple[float, float] | None:
    """The stretch where the mapping holds: the maximum-sum run of ``prod - score/2``.

    Kadane's maximum subarray: the edges fall where the local agreement crosses half
    the match's own score, which is where a cut to other footage lies.
    """
    theta = 0.5 * max(score, 0.0)
    csum = np.concatenate([[0.0], np.cumsum(prod - theta)])
    low = np.minimum.accumulate(csum)  # low[j] = min over i <= j of csum[i]
    gain = csum - low
    j = int(np.argmax(gain))
    if gain[j] <= 0.0:
        return None
    i = int(np.flatnonzero(csum[: j + 1] == low[j])[-1])  # samples i .. j-1
    best = (i, j - 1)
    step = float(t[1] - t[0]) if len(t) > 1 else 0.0
    return float(t[best[0]]) - 0.5 * step, float(t[best[1]]) + 0.5 * step


def _grid_hz(leak: Fingerprint, src: Fingerprint) -> float:
    return min(leak.fps, src.fps, MAX_GRID_HZ)


def _p_to_confidence(z: float, tests: int) -> float:
    p = 0.5 * math.erfc(z / math.sqrt(2.0)) * max(1, tests)
    return float(min(1.0, max(0.0, 1.0 - p)))


def locate(
    leak: Fingerprint,
    sources: Mapping[str, Fingerprint],
    *,
    max_speed_change: float = 0.0,
    min_score: float = MIN_SCORE,
    min_z: float = MIN_Z,
    max_pieces: int = 8,
) -> list[SourceMatch]:
    """Where the leak's footage is in ``sources``: matches, best first; [] if nowhere.

    ``max_speed_change`` (e.g. 0.05 for ±5 %) also tries leaks played faster or slower
    than the original. Each match covers a stretch of the leak; a leak cut together
    from several places gives several matches (at most ``max_pieces``).
    """
    if len(leak) < 2:
        return []
    lo, hi = float(leak.times[0]), float(leak.times[-1])
    pending: list[tuple[float, float]] = [(lo, hi)]
    found: list[SourceMatch] = []
    spectra: dict[tuple[str, float, int], _SourceSpectra] = {}
    grids: dict[tuple[str, float], _Grid] = {}
    while pending and len(found) < max_pieces:
        start, end = pending.pop(0)
        if end - start < min(MIN_SEGMENT_S, hi - lo) - 1e-9:
            continue
        match = _best_in(
            leak, sources, start, end, max_speed_change, min_score, min_z, spectra, grids
        )
        if match is None:
            continue
        found.append(match)
        # Look again in what this match does not cover.
        for a, b in ((start, match.leak_start_s), (match.leak_end_s, end)):
            if b - a >= MIN_SEGMENT_S:
                pending.append((a, b))
    found.sort(key=lambda m: (-m.z, m.leak_start_s))
    return found


def _best_in(
    leak: Fingerprint,
    sources: Mapping[str, Fingerprint],
    start: float,
    end: float,
    max_speed_change: float,
    min_score: float,
    min_z: float,
    spectra: dict[tuple[str, float, int], _SourceSpectra],
    grids: dict[tuple[str, float], _Grid],
) -> SourceMatch | None:
    peaks: list[_Peak] = []
    for sid, src in sources.items():
        if len(src) < 2:
            continue
        hz = _grid_hz(leak, src)
        if (float(src.times[-1]) - float(src.times[0])) * hz < 2:
            continue  # shorter than two steps of the grid: nothing to correlate
        key = (sid, hz)
        if key not in grids:
            grids[key] = _source_grid(src, hz)
        grid = grids[key]
        m_max = int((end - start) * (1 + max_speed_change) * hz) + 2
        nfft = _fft_len(grid.sig.shape[1] + m_max)
        skey = (sid, hz, nfft)
        if skey not in spectra:
            spectra[skey] = _spectra(grid, nfft)
        peak = _search_source(sid, leak, spectra[skey], start, end, max_speed_change)
        if peak is not None and peak.z >= min_z:
            peaks.append(peak)
    peaks.sort(key=lambda p: -p.z)
    for peak in peaks[:3]:
        src = sources[peak.source_id]
        hz = _grid_hz(leak, src)
        offset, rate, score = _refine(leak, src, hz, peak, start, end, max_speed_change)
        # The score gate comes after the stretch that matches is found and refitted, not
        # before: a piece of which only a part is this source (a broadcast edit) scores
        # low as a whole and high where it matches, and gating the whole would lose a
        # match that clears both thresholds (issue 21).
        if score <= 0.0:
            continue
        trial = SourceMatch(
            peak.source_id, offset, rate, score, 0.0, peak.mirrored, start, end, peak.z
        )
        t, prod = match_profile(leak, src, trial, start=start, end=end, smooth_s=0.0)
        span = _support(t, prod, score)
        if span is None:
            continue
        a, b = max(start, span[0]), min(end, span[1])
        if b - a < min(MIN_SEGMENT_S, end - start) * 0.75:
            continue
        if (a - start) + (end - b) > 1.0:
            # Part of the piece is elsewhere: refit on the stretch that matches.
            offset, rate, score = _refine(
                leak,
                src,
                hz,
                _Peak(peak.source_id, peak.z, offset, rate, peak.mirrored, 0),
                a,
                b,
                max_speed_change,
            )
        else:
            a, b = start, end
        if score < min_score:
            continue
        return SourceMatch(
            source_id=peak.source_id,
            offset_s=offset,
            rate=rate,
            score=score,
            confidence=_p_to_confidence(peak.z, peak.tests * max(1, len(sources))),
            mirrored=peak.mirrored,
            leak_start_s=a,
            leak_end_s=b if b < float(leak.times[-1]) else float(leak.times[-1]) + 1 / leak.fps,
            z=peak.z,
        )
    return None


def best_per_source(matches: Sequence[SourceMatch]) -> dict[str, SourceMatch]:
    """The strongest match of each source (helper for callers that list sources)."""
    out: dict[str, SourceMatch] = {}
    for m in matches:
        if m.source_id not in out or m.z > out[m.source_id].z:
            out[m.source_id] = m
    return out
