"""An index over every fingerprint in the archive: find a leak without sliding it along each.

:func:`custodes.media.locate.locate` slides a leak along every source (about 0.28 s per
indexed hour): fine for one case, hours for a department's year. This module proposes
a few candidate ``(source, offset, rate, mirror)`` alignments in time that grows far
slower than the archive, and :func:`locate_in_archive` then runs the exact search on a
short stretch of each candidate only. Nothing robust is given up: both stages read the
same geometry-free motion signals (:func:`custodes.media.locate.grid_signals`).

Keys. The normalised signals (whitened, gain-controlled, clipped; five channels) are
taken on a grid of :data:`HZ` samples a second. A window of :data:`WINDOW` samples
(2.4 s) is projected onto ``TABLES * BITS`` fixed ±1 directions (from SHAKE-256, so
keys never depend on a library's random generator) and the signs give ``TABLES``
codes of ``BITS`` bits: random-hyperplane hashing (Charikar, STOC 2002), which keeps
the angle between windows: two copies of the same seconds, whose signals correlate
well, agree on most bits whatever the crop, scale, banner or re-encode. A source is
keyed every :data:`HOP` samples (0.2 s); a leak at every sample.

Look-up. Each table is an inverted file (a code's postings: the keys with that code,
as CSR arrays). A leak's codes, and the same codes with one of their least reliable
bits flipped (multi-probe), fetch postings; each posting votes for the alignment
``source sample - leak sample``. A frame-rate change does not matter (the grid is in
seconds); a speed change does, so the leak is keyed at a few rates (:data:`RATES`)
and a mirrored leak with ``vx`` and ``vr`` negated. The alignments with the most
votes (neighbouring offsets pooled) are the candidates.

Why not an approximate nearest-neighbour library (FAISS, hnswlib): a graph index costs
some 100 bytes of links a vector and would take hours to build over the 180 million
keys of 10,000 hours on two cores (an estimate, not measured here); a leak is also
not one vector but a sequence whose votes must agree in time. An inverted file costs
4 bytes a key and table, builds with one sort, and the voting is the temporal
consistency check (as in audio fingerprinting: Wang, "An industrial-strength audio
search algorithm", ISMIR 2003).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import InvalidInput
from custodes.media.fingerprint import FEATURES, Fingerprint
from custodes.media.locate import (
    MIN_SCORE,
    MIN_Z,
    SourceMatch,
    grid_signals,
    locate,
    mirror_signs,
)

__all__ = [
    "ARCHIVE_CANDIDATES",
    "BITS",
    "HOP",
    "HZ",
    "INDEX_VERSION",
    "RATES",
    "RIVALS",
    "TABLES",
    "WINDOW",
    "ArchiveIndex",
    "Candidate",
    "SourceKeys",
    "locate_in_archive",
    "source_keys",
]

INDEX_VERSION = 1
"""Bumped whenever keys change: stored keys of another version are rebuilt."""
HZ = 10.0
"""Samples a second of the key grid."""
WINDOW = 24
"""Samples in one key's window (2.4 s)."""
HOP = 2
"""A source is keyed every HOP samples."""
TABLES = 6
"""Independent hash tables (codes per key)."""
BITS = 20
"""Bits per code."""
PROBES = 3
"""Least reliable bits flipped, one at a time, in extra look-ups."""
RATES = (0.94, 0.97, 1.0, 1.03, 1.06)
"""Playing speeds a leak is keyed at (a window tolerates about ±2 % of speed)."""
SMOOTH = 3
"""Samples of the moving average applied before keying (raises the copies' agreement)."""
KEY_CHANNELS = ("dm", "vx", "vy")
"""Channels keyed: zoom and rotation agree least between a copy and its source."""
ARCHIVE_CANDIDATES = 5
"""Candidates the exact search scores."""
RIVALS = 2
"""Keys (speed, mirror) proposed for one place of one source: the best and a rival."""
MAX_POSTINGS = 4096
"""A code with more postings than this in a segment says nothing (a stop word)."""
MIN_QUERY_S = (WINDOW + SMOOTH) / HZ * max(RATES)
"""The shortest leak the index can key at every speed it tries (about 2.9 s): a shorter
one has no key, so the index can say nothing about it (see :func:`can_key`)."""

_CH = [FEATURES.index(c) for c in KEY_CHANNELS]
_C = len(_CH)
_F64 = NDArray[np.float64]
_U32 = NDArray[np.uint32]


def _projection() -> NDArray[np.float32]:
    """(TABLES*BITS, C*WINDOW) ±1 directions from SHAKE-256 (stable forever)."""
    n = TABLES * BITS * _C * WINDOW
    raw = hashlib.shake_256(f"custodes-archive-keys-v{INDEX_VERSION}".encode()).digest((n + 7) // 8)
    bits = np.unpackbits(np.frombuffer(raw, np.uint8))[:n]
    return (2.0 * bits.astype(np.float32) - 1.0).reshape(TABLES * BITS, _C * WINDOW)


_PROJ = _projection()
_WEIGHTS = (1 << np.arange(BITS, dtype=np.uint64)).astype(np.uint64)


def _project(sig: _F64, hop: int) -> NDArray[np.float32]:
    """Window projections (n_windows, TABLES*BITS) of signals (C, n), every ``hop``."""
    sig = sig[_CH]
    if SMOOTH > 1 and sig.shape[1] >= SMOOTH:
        c = np.cumsum(np.pad(sig, [(0, 0), (1, 0)]), axis=1)
        sig = (c[:, SMOOTH:] - c[:, :-SMOOTH]) / SMOOTH  # sample k averages k .. k+SMOOTH-1
    n = sig.shape[1]
    if n < WINDOW:
        return np.zeros((0, TABLES * BITS), np.float32)
    win = np.lib.stride_tricks.sliding_window_view(sig.astype(np.float32), WINDOW, axis=1)
    win = win[:, ::hop, :]  # (C, k, WINDOW)
    flat = np.ascontiguousarray(win.transpose(1, 0, 2)).reshape(win.shape[1], -1)
    return np.asarray(flat @ _PROJ.T, np.float32)


def _codes(proj: NDArray[np.float32]) -> _U32:
    """(n, TABLES) codes from projections (n, TABLES*BITS)."""
    bits = (proj >= 0).reshape(len(proj), TABLES, BITS).astype(np.uint64)
    return (bits @ _WEIGHTS).astype(np.uint32)


@dataclass(frozen=True, eq=False)
class SourceKeys:
    """One source's keys: ``codes[j]`` for the window starting ``t0 + j*HOP/HZ``."""

    source_id: str
    t0: float
    codes: _U32  # (n, TABLES)
    duration_s: float = 0.0
    version: int = INDEX_VERSION

    def __len__(self) -> int:
        return len(self.codes)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            version=np.int32(self.version),
            t0=np.float64(self.t0),
            duration=np.float64(self.duration_s),
            codes=self.codes.astype(np.uint32),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, source_id: str, data: bytes) -> SourceKeys:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                version = int(z["version"])
                t0 = float(z["t0"])
                duration = float(z["duration"])
                codes = np.asarray(z["codes"], np.uint32)
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise InvalidInput(f"not stored archive keys: {exc}") from exc
        if version != INDEX_VERSION or codes.ndim != 2 or codes.shape[1] != TABLES:
            raise InvalidInput(
                f"archive keys format {version} is not {INDEX_VERSION}",
                advice="rebuild the index: custodes index --rebuild",
            )
        return cls(source_id, t0, codes, duration, version)


def source_keys(source_id: str, fp: Fingerprint) -> SourceKeys:
    """The keys of a source's fingerprint (about 2 ms per hour of video)."""
    if len(fp) < 2 or fp.duration_s * HZ < WINDOW + 2:
        return SourceKeys(source_id, 0.0, np.zeros((0, TABLES), np.uint32), fp.duration_s)
    t0, sig = grid_signals(fp, HZ)
    return SourceKeys(source_id, t0, _codes(_project(sig, HOP)), fp.duration_s)


@dataclass(frozen=True)
class Candidate:
    """A proposed alignment ``t_src = offset_s + rate * t_leak`` and its votes."""

    source_id: str
    offset_s: float
    rate: float
    mirrored: bool
    votes: int


@dataclass
class _Segment:
    """An immutable inverted file over some sources."""

    ids: list[str]
    t0: _F64
    bases: NDArray[np.int64]  # global key index of each source's first key (len+1)
    offsets: list[NDArray[np.int64]]  # per table, CSR row starts (2**BITS + 1)
    postings: list[_U32]  # per table, global key indices grouped by code

    @classmethod
    def build(cls, sources: list[SourceKeys]) -> _Segment:
        lens = np.array([len(s) for s in sources], np.int64)
        bases = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        total = int(bases[-1])
        if total >= 2**32:
            raise InvalidInput("an index segment holds at most 2**32 keys")
        codes = (
            np.concatenate([s.codes for s in sources])
            if total
            else np.zeros((0, TABLES), np.uint32)
        )
        offsets: list[NDArray[np.int64]] = []
        postings: list[_U32] = []
        for t in range(TABLES):
            col = codes[:, t]
            counts = np.bincount(col, minlength=1 << BITS)
            offsets.append(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
            postings.append(np.argsort(col).astype(np.uint32))  # order within a code is free
        return cls(
            ids=[s.source_id for s in sources],
            t0=np.array([s.t0 for s in sources], np.float64),
            bases=bases,
            offsets=offsets,
            postings=postings,
        )

    @property
    def nbytes(self) -> int:
        return sum(o.nbytes + p.nbytes for o, p in zip(self.offsets, self.postings, strict=True))


def _query_probes(
    leak: Fingerprint, rates: tuple[float, ...], start: float, end: float
) -> tuple[list[_U32], list[NDArray[np.int64]], list[NDArray[np.int64]], list[float]]:
    """Per table: probe codes, the leak sample each belongs to, and its (rate, mirror) tag."""
    codes: list[list[_U32]] = [[] for _ in range(TABLES)]
    qs: list[list[NDArray[np.int64]]] = [[] for _ in range(TABLES)]
    tags: list[list[NDArray[np.int64]]] = [[] for _ in range(TABLES)]
    t0s: list[float] = []
    signs = mirror_signs()
    for ri, rate in enumerate(rates):
        t0, sig = grid_signals(leak, HZ, rate=rate, start=start, end=end)
        t0s.append(t0)
        for mirrored in (False, True):
            s = sig * signs[:, None] if mirrored else sig
            proj = _project(s, 1)
            if len(proj) == 0:
                continue
            n = len(proj)
            base = _codes(proj)  # (n, TABLES)
            rel = np.abs(proj).reshape(n, TABLES, BITS)
            weak = np.argsort(rel, axis=2)[:, :, :PROBES]  # (n, TABLES, PROBES)
            flips = (np.uint32(1) << weak.astype(np.uint32)).astype(np.uint32)
            allc = np.concatenate([base[:, :, None], base[:, :, None] ^ flips], axis=2)
            q = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], (n, 1 + PROBES))
            for t in range(TABLES):
                codes[t].append(allc[:, t, :].ravel())
                qs[t].append(q.ravel())
                tags[t].append(np.full(n * (1 + PROBES), ri * 2 + int(mirrored), np.int64))
    cat = [np.concatenate(c) if c else np.zeros(0, np.uint32) for c in codes]
    qcat = [np.concatenate(c) if c else np.zeros(0, np.int64) for c in qs]
    tcat = [np.concatenate(c) if c else np.zeros(0, np.int64) for c in tags]
    return cat, qcat, tcat, t0s


def _gather(
    offsets: NDArray[np.int64], postings: _U32, codes: _U32
) -> tuple[_U32, NDArray[np.int64]]:
    """Postings of every code (stop words skipped): (global keys, index of the code)."""
    lo = offsets[codes]
    hi = offsets[codes.astype(np.int64) + 1]
    cnt = hi - lo
    cnt[cnt > MAX_POSTINGS] = 0
    total = int(cnt.sum())
    if total == 0:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    which = np.repeat(np.arange(len(codes), dtype=np.int64), cnt)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
    idx = starts + np.arange(total, dtype=np.int64)
    return postings[idx], which


class ArchiveIndex:
    """The in-memory index: add, remove, query. Not thread-safe while it changes.

    Sources added after the last :meth:`compact` sit in a small segment of their own,
    built at the next query; removal hides a source at once (its keys go at the next
    :meth:`compact`).
    """

    def __init__(self, keys: Iterable[SourceKeys] = ()) -> None:
        self._keys: dict[str, SourceKeys] = {}
        self._segments: list[_Segment] = []
        self._pending: list[SourceKeys] = []
        self._removed: set[str] = set()
        self._dirty = False
        for k in keys:
            self._keys[k.source_id] = k
        self.compact()

    # -------------------------------------------------------------- maintenance

    def add(self, keys: SourceKeys) -> None:
        """Index a source (replacing any earlier keys of the same id)."""
        if keys.source_id in self._keys:
            self.remove(keys.source_id)
        self._keys[keys.source_id] = keys
        if keys.source_id in self._removed:
            # Its old keys still sit in a segment: rebuild before the next query.
            self._dirty = True
        else:
            self._pending.append(keys)

    def remove(self, source_id: str) -> bool:
        """Forget a source (retention); whether it was indexed."""
        if source_id not in self._keys:
            return False
        del self._keys[source_id]
        self._pending = [k for k in self._pending if k.source_id != source_id]
        self._removed.add(source_id)
        return True

    def compact(self) -> None:
        """Rebuild one segment from the live sources (drops removed keys)."""
        live = [k for k in self._keys.values() if len(k)]
        self._segments = [_Segment.build(live)] if live else []
        self._pending = []
        self._removed = set()
        self._dirty = False

    def _freeze(self) -> None:
        if self._dirty:
            self.compact()
            return
        pend = [k for k in self._pending if len(k)]
        if pend:
            self._segments.append(_Segment.build(pend))
        self._pending = []
        if len(self._segments) > 8:
            self.compact()

    # ------------------------------------------------------------------ facts

    def __contains__(self, source_id: object) -> bool:
        return source_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def source_ids(self) -> list[str]:
        return sorted(self._keys)

    @property
    def indexed_s(self) -> float:
        """Seconds of footage indexed."""
        return float(sum(k.duration_s for k in self._keys.values()))

    @property
    def keys(self) -> int:
        return sum(len(k) for k in self._keys.values())

    @property
    def nbytes(self) -> int:
        """Bytes of the in-memory inverted files (the stored keys are counted apart)."""
        self._freeze()
        return sum(s.nbytes for s in self._segments)

    # ------------------------------------------------------------------ query

    def candidates(
        self,
        leak: Fingerprint,
        *,
        limit: int = 8,
        allowed: Collection[str] | None = None,
        rates: tuple[float, ...] = RATES,
        start: float | None = None,
        end: float | None = None,
    ) -> list[Candidate]:
        """The ``limit`` alignments with the most votes, best first.

        ``allowed`` restricts the sources proposed (those the caller may see).
        """
        self._freeze()
        lo = float(leak.times[0]) if start is None else start
        hi = float(leak.times[-1]) if end is None else end
        if len(leak) < 2 or (hi - lo) * HZ * min(rates) < WINDOW + 2:
            return []
        pcodes, pq, ptag, t0s = _query_probes(leak, rates, lo, hi)
        pooled: dict[tuple[str, int, int], int] = {}
        offsets_of: dict[tuple[str, int, int], int] = {}
        for seg in self._segments:
            keep_src = np.array(
                [
                    (sid not in self._removed) and (allowed is None or sid in allowed)
                    for sid in seg.ids
                ],
                bool,
            )
            if not keep_src.any():
                continue
            vk: list[NDArray[np.int64]] = []
            for t in range(TABLES):
                g, which = _gather(seg.offsets[t], seg.postings[t], pcodes[t])
                if len(g) == 0:
                    continue
                g64 = g.astype(np.int64)
                src = np.searchsorted(seg.bases, g64, side="right") - 1
                ok = keep_src[src]
                src, g64, which = src[ok], g64[ok], which[ok]
                off = (g64 - seg.bases[src]) * HOP - pq[t][which]  # source - leak samples
                # Pack (source, offset, tag) into one integer: offsets within ±2**30.
                vk.append(((src << 31) + (off + (1 << 30))) * 16 + ptag[t][which])
            if not vk:
                continue
            allv = np.concatenate(vk)
            keys_u, counts = np.unique(allv, return_counts=True)
            # Pool neighbouring offsets (speed and rounding smear a peak by a sample).
            pooled_counts = counts.copy()
            for d in (-1, 1):
                nb = keys_u + d * 16
                pos = np.searchsorted(keys_u, nb)
                pos = np.clip(pos, 0, len(keys_u) - 1)
                hit = keys_u[pos] == nb
                pooled_counts[hit] += counts[pos[hit]]
            top = np.argsort(-pooled_counts, kind="stable")[: limit * 8]
            for i in top:
                k = int(keys_u[i])
                tag = k % 16
                rest = k // 16
                off = rest % (1 << 31) - (1 << 30)
                sid = seg.ids[rest >> 31]
                key = (sid, off // 5, tag)  # 0.5 s cells: one candidate per alignment
                c = int(pooled_counts[i])
                if c > pooled.get(key, 0):
                    pooled[key] = c
                    offsets_of[key] = off
        # Rank alignments by votes; between speeds voting alike, the nearer to 1 wins.
        ranked = sorted(pooled.items(), key=lambda kv: (-kv[1], abs(rates[kv[0][2] // 2] - 1.0)))
        out: list[Candidate] = []
        seen: list[tuple[str, float, int]] = []
        for (sid, cell, tag), votes in ranked:
            rate = rates[tag // 2]
            mirrored = bool(tag % 2)
            off = offsets_of[(sid, cell, tag)]
            # Source time t0_src + off/HZ + (leak sample)/HZ meets leak time
            # t0_leak + sample/(rate*HZ): t_src = t0_src + off/HZ - rate*t0_leak + rate*t.
            offset_s = self._keys[sid].t0 + off / HZ - rate * t0s[tag // 2]
            mid = offset_s + rate * 0.5 * (lo + hi)
            # One candidate per place and key (speed, mirror), and at most RIVALS keys
            # per place: on a short leak a neighbouring speed can outvote the true
            # one by a vote, and the exact stage only searches near a candidate's speed.
            here = [t for s, m, t in seen if s == sid and abs(m - mid) < 2.0]
            if tag in here or len(here) >= RIVALS:
                continue
            seen.append((sid, mid, tag))
            out.append(Candidate(sid, offset_s, rate, mirrored, votes))
            if len(out) >= limit:
                break
        return out


def _crop(fp: Fingerprint, lo: float, hi: float) -> Fingerprint:
    t = np.asarray(fp.times, np.float64)
    i = max(0, int(np.searchsorted(t, lo, side="left")) - 1)
    j = min(len(t), int(np.searchsorted(t, hi, side="right")) + 1)
    return Fingerprint(fp.fps, t[i:j], fp.feats[i:j], fp.width, fp.height)


def _rescaled(leak: Fingerprint, rate: float) -> Fingerprint:
    """The leak on a clock ``rate`` times slower: played back at speed 1 against its source."""
    return Fingerprint(
        leak.fps / rate, np.asarray(leak.times, np.float64) * rate, leak.feats, leak.width,
        leak.height,
    )  # fmt: skip


def _confidence(z: float, tests: float) -> float:
    p = 0.5 * math.erfc(z / math.sqrt(2.0)) * max(1.0, tests)
    return float(min(1.0, max(0.0, 1.0 - p)))


def can_key(leak: Fingerprint) -> bool:
    """Whether ``leak`` is long enough for the index to key it (:data:`MIN_QUERY_S`);
    for a shorter one the caller searches every source linearly instead, since "no
    candidate" would otherwise read as "not in the archive"."""
    return len(leak) >= 2 and float(leak.times[-1] - leak.times[0]) >= MIN_QUERY_S


def locate_in_archive(
    leak: Fingerprint,
    index: ArchiveIndex,
    fetch: Callable[[str], Fingerprint | None],
    *,
    candidates: int = ARCHIVE_CANDIDATES,
    allowed: Collection[str] | None = None,
    proposed: list[Candidate] | None = None,
    margin_s: float = 6.0,
    min_score: float = MIN_SCORE,
    min_z: float = MIN_Z,
) -> list[SourceMatch]:
    """Where the leak is in the archive: the exact search on the index's candidates only.

    ``fetch`` returns a source's fingerprint (None: gone); ``proposed`` are candidates
    already drawn from ``index`` (by default drawn here, among ``allowed`` sources).
    Each candidate's source is cut to the candidate's seconds and ``margin_s`` either
    side and searched by :func:`custodes.media.locate.locate` at the candidate's speed
    and within ±2.25 % of it. Matches are
    those ``locate`` would report (the same thresholds), best first, one per source and
    stretch; ``confidence`` is Bonferroni-corrected for every offset of the archive.
    """
    if len(leak) < 2:
        return []
    lo, hi = float(leak.times[0]), float(leak.times[-1])
    found: list[SourceMatch] = []
    cache: dict[str, Fingerprint | None] = {}
    # Bonferroni over the archive: every 1/30 s offset, both signs, every speed tried
    # (the keys' speeds times the exact stage's seven around each).
    tests = max(index.indexed_s, 1.0) * 30.0 * 2 * len(RATES) * 7
    if proposed is None:
        proposed = index.candidates(leak, limit=candidates, allowed=allowed)
    for k, cand in enumerate(proposed):
        if any(
            m.source_id == cand.source_id
            and abs(m.to_source(0.5 * (lo + hi)) - (cand.offset_s + cand.rate * 0.5 * (lo + hi)))
            < 2.0
            for m in found
        ):
            continue
        if cand.source_id not in cache:
            cache[cand.source_id] = fetch(cand.source_id)
        src = cache[cand.source_id]
        if src is None or len(src) < 2:
            continue
        a = cand.offset_s + cand.rate * lo - margin_s
        b = cand.offset_s + cand.rate * (hi + 1.0 / leak.fps) + margin_s
        piece = _crop(src, a, b)
        if len(piece) < 8:
            continue
        # At the candidate's speed first (cheap); for the strongest two, then at nearby
        # speeds (the keys' speeds are 3 % apart; each try tolerates about ±0.4 %).
        matches: list[SourceMatch] = []
        tries = (0.0, -0.0075, 0.0075, -0.015, 0.015, -0.0225, 0.0225) if k < 2 else (0.0,)
        for d in tries:
            rate = cand.rate * (1.0 + d)
            matches = locate(
                _rescaled(leak, rate),
                {cand.source_id: piece},
                min_score=min_score,
                min_z=min_z,
                max_pieces=1,
            )
            if matches:
                break
        for m in matches:
            found.append(
                SourceMatch(
                    source_id=m.source_id,
                    offset_s=m.offset_s,
                    rate=m.rate * rate,
                    score=m.score,
                    confidence=_confidence(m.z, tests),
                    mirrored=m.mirrored,
                    leak_start_s=m.leak_start_s / rate,
                    leak_end_s=m.leak_end_s / rate,
                    z=m.z,
                )
            )
    found.sort(key=lambda m: -m.z)
    return found
