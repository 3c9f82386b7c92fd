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
keyed every :data:`HOP` samples (0.4 s); a leak at every sample.

Look-up. Each table is an inverted file (a code's postings: the keys with that code,
as CSR arrays; row starts by code once most codes are present, else by the codes
present). A leak's codes, and the same codes with one or two of their least reliable
bits flipped (multi-probe), fetch postings; each posting votes for the alignment
``source sample - leak sample``. A frame-rate change does not matter (the grid is in
seconds); a speed change does, so the leak is keyed at a few rates (:data:`RATES`)
and a mirrored leak with ``vx`` and ``vr`` negated. An alignment's votes are pooled
over neighbouring offsets and summed over the keyings that put the leak's middle in
the same second of the same source; the alignments with the most are the candidates.
The leak is keyed at speed 1, not mirrored, first: when one alignment then stands out
(:data:`CLEAR_VOTES`, :data:`CLEAR_RATIO`), the nine other keyings are skipped.

Size and cost. 24-bit codes keep postings short (about 54 a code and table at 100,000
hours), so a look-up fetches some 0.7 million postings a keying there instead of the
3 million that six 20-bit tables keyed every 0.2 s fetched; 4 tables every 0.4 s take
144 KB an hour (14.4 GB at 100,000 hours). :meth:`ArchiveIndex.save` keeps the built
inverted files as ``.npy`` files that :meth:`ArchiveIndex.load` memory-maps.

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
import json
import math
import os
import shutil
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

INDEX_VERSION = 2
"""Bumped whenever keys change: stored keys of another version are rebuilt (2: four
24-bit codes every 0.4 s, in place of six 20-bit codes every 0.2 s)."""
HZ = 10.0
"""Samples a second of the key grid."""
WINDOW = 24
"""Samples in one key's window (2.4 s)."""
HOP = 4
"""A source is keyed every HOP samples (0.4 s)."""
TABLES = 4
"""Independent hash tables (codes per key)."""
BITS = 24
"""Bits per code: 16.7 million codes, so a code holds about 54 postings per table at
100,000 hours (0.9 billion keys)."""
PROBES = 12
"""Least reliable bits flipped, one at a time, in extra look-ups..."""
PAIRS = 8
"""...and every pair of the PAIRS least reliable flipped together: 1 + 12 + 28 = 41
look-ups per window and table (multi-probe LSH: Lv et al., VLDB 2007)."""
CLEAR_VOTES = 8
"""A first stage (speed 1, not mirrored) whose best alignment has this many votes..."""
CLEAR_RATIO = 3.0
"""...and this many times the best of any other alignment ends the look-up there."""
RATES = (0.94, 0.97, 1.0, 1.03, 1.06)
"""Playing speeds a leak is keyed at (a window tolerates about ±2 % of speed)."""
SMOOTH = 3
"""Samples of the moving average applied before keying (raises the copies' agreement)."""
KEY_CHANNELS = ("dm", "vx", "vy")
"""Channels keyed: zoom and rotation agree least between a copy and its source."""
ARCHIVE_CANDIDATES = 12
"""Candidates the exact search scores (after a confirmed one, only those with at least
1/CLEAR_RATIO of its votes): a weak copy's alignment can rank below chance ones at
10,000 hours (measured: 7th)."""
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
    if len(flat) < 4096:
        # A leak's few windows: without BLAS, whose threads cost some 20 ms a call on
        # a loaded machine (measured) for 30 microseconds of arithmetic.
        return np.asarray(np.einsum("ij,kj->ik", flat, _PROJ, optimize=False), np.float32)
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
    complete: bool = True
    """False when the look-up stopped at speed 1, not mirrored (a clear winner there):
    the exact stage then tries the speeds and the mirror the keys did not."""


def _csr(col: _U32) -> tuple[_U32 | None, _U32, _U32]:
    """One table's inverted file over codes ``col``: (codes present, or None when the
    row starts are indexed by code directly; row starts; key indices grouped by code)."""
    n = len(col)
    order = np.argsort(col, kind="stable").astype(np.uint32)  # by code, then by key
    if 8 * n >= 4 * (1 << BITS):  # dense: one row start a code (4 bytes each)
        counts = np.bincount(col, minlength=1 << BITS)
        starts = np.zeros((1 << BITS) + 1, np.uint32)
        np.cumsum(counts, out=starts[1:])
        return None, starts, order
    sc = col[order]
    first = np.flatnonzero(np.concatenate([[True], sc[1:] != sc[:-1]])) if n else np.zeros(0, int)
    present = sc[first].astype(np.uint32)
    starts = np.concatenate([first, [n]]).astype(np.uint32)
    return present, starts, order


@dataclass
class _Segment:
    """An immutable inverted file over some sources (arrays may be memory-mapped)."""

    ids: list[str]
    t0: _F64
    bases: NDArray[np.int64]  # global key index of each source's first key (len+1)
    present: list[_U32 | None]  # per table, the codes present (None: starts by code)
    offsets: list[_U32]  # per table, CSR row starts
    postings: list[_U32]  # per table, global key indices grouped by code

    @classmethod
    def build(cls, sources: list[SourceKeys]) -> _Segment:
        lens = np.array([len(s) for s in sources], np.int64)
        bases = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        total = int(bases[-1])
        if total >= 2**32:
            raise InvalidInput("an index segment holds at most 2**32 keys")
        present: list[_U32 | None] = []
        offsets: list[_U32] = []
        postings: list[_U32] = []
        for t in range(TABLES):
            col = (
                np.concatenate([s.codes[:, t] for s in sources])
                if total
                else np.zeros(0, np.uint32)
            ).astype(np.uint32)
            p, o, g = _csr(col)
            present.append(p)
            offsets.append(o)
            postings.append(g)
            del col
        return cls(
            ids=[s.source_id for s in sources],
            t0=np.array([s.t0 for s in sources], np.float64),
            bases=bases,
            present=present,
            offsets=offsets,
            postings=postings,
        )

    @property
    def nbytes(self) -> int:
        return sum(
            o.nbytes + g.nbytes + (0 if p is None else p.nbytes)
            for p, o, g in zip(self.present, self.offsets, self.postings, strict=True)
        )

    def gather(self, t: int, codes: _U32) -> tuple[_U32, NDArray[np.int64]]:
        """Table ``t``'s postings of every code (stop words skipped): (global keys,
        index of the code)."""
        p, offsets = self.present[t], self.offsets[t]
        if p is None:
            lo = offsets[codes].astype(np.int64)
            hi = offsets[codes.astype(np.int64) + 1].astype(np.int64)
        else:
            i = np.searchsorted(p, codes)
            i = np.minimum(i, max(len(p) - 1, 0))
            hit = (p[i] == codes) if len(p) else np.zeros(len(codes), bool)
            lo = offsets[i].astype(np.int64)
            hi = np.where(hit, offsets[i + 1].astype(np.int64), lo)
        cnt = hi - lo
        cnt[cnt > MAX_POSTINGS] = 0
        total = int(cnt.sum())
        if total == 0:
            return np.zeros(0, np.uint32), np.zeros(0, np.int64)
        which = np.repeat(np.arange(len(codes), dtype=np.int64), cnt)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
        idx = starts + np.arange(total, dtype=np.int64)
        return np.asarray(self.postings[t][idx]), which

    # ----------------------------------------------------------------- snapshot

    def save(self, folder: Path) -> None:
        """The arrays as .npy files (memory-mappable) and the ids, in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "t0.npy", self.t0)
        np.save(folder / "bases.npy", self.bases)
        for t in range(TABLES):
            p = self.present[t]
            if p is not None:
                np.save(folder / f"present{t}.npy", p)
            np.save(folder / f"offsets{t}.npy", self.offsets[t])
            np.save(folder / f"postings{t}.npy", self.postings[t])
        (folder / "ids.json").write_text(json.dumps(self.ids))

    @classmethod
    def load(cls, folder: Path) -> _Segment:
        """A saved segment, its large arrays memory-mapped (read-only)."""

        def arr(name: str) -> Any:
            return np.load(folder / name, mmap_mode="r", allow_pickle=False)

        ids = json.loads((folder / "ids.json").read_text())
        return cls(
            ids=list(ids),
            t0=np.asarray(arr("t0.npy")),
            bases=np.asarray(arr("bases.npy")),
            present=[
                arr(f"present{t}.npy") if (folder / f"present{t}.npy").exists() else None
                for t in range(TABLES)
            ],
            offsets=[arr(f"offsets{t}.npy") for t in range(TABLES)],
            postings=[arr(f"postings{t}.npy") for t in range(TABLES)],
        )


_NO_CODES = np.zeros((0, TABLES), np.uint32)
_BIAS = 1 << 24
"""Added to an alignment so that it is never negative (a leak of under 19 days)."""
_TAG_SHIFT = 40
"""A vote's keying sits above bit 40, its segment sample below."""

_SUBSETS: list[tuple[int, ...]] = [(i,) for i in range(PROBES)] + [
    (i, j) for i in range(PAIRS) for j in range(i + 1, PAIRS)
]


def _variant_probes(
    sig: _F64, mirrored: bool
) -> tuple[NDArray[np.uint32], NDArray[np.int64]] | None:
    """One keying of the leak: (codes (TABLES, m), leak sample of each (m,))."""
    s = sig * mirror_signs()[:, None] if mirrored else sig
    proj = _project(s, 1)
    if len(proj) == 0:
        return None
    n = len(proj)
    base = _codes(proj)  # (n, TABLES)
    rel = np.abs(proj).reshape(n, TABLES, BITS)
    m = max(PROBES, PAIRS)
    weak = np.argsort(rel, axis=2)[:, :, :m].astype(np.uint32)
    bit = np.uint32(1) << weak  # (n, TABLES, m)
    masks = [np.zeros((n, TABLES), np.uint32)]
    for sub in _SUBSETS:
        mk = bit[:, :, sub[0]].copy()
        for i in sub[1:]:
            mk |= bit[:, :, i]
        masks.append(mk)
    allc = base[:, :, None] ^ np.stack(masks, axis=2)  # (n, TABLES, k)
    k = allc.shape[2]
    codes = np.ascontiguousarray(allc.transpose(1, 0, 2)).reshape(TABLES, n * k)
    q = np.repeat(np.arange(n, dtype=np.int64), k)
    return codes, q


class ArchiveIndex:
    """The in-memory index: add, remove, query. Not thread-safe while it changes.

    Sources added after the last :meth:`compact` sit in a small segment of their own,
    built at the next query; removal hides a source at once (its keys go at the next
    :meth:`compact`). :meth:`save` and :meth:`load` keep the built inverted files as
    memory-mapped ``.npy`` files (a snapshot that loads in a fraction of a second).
    """

    def __init__(self, keys: Iterable[SourceKeys] = ()) -> None:
        self._keys: dict[str, SourceKeys] = {}
        self._segments: list[_Segment] = []
        self._pending: list[SourceKeys] = []
        self._removed: set[str] = set()
        self._dirty = False
        self._lazy: dict[str, tuple[_Segment, int]] = {}  # snapshot sources: codes not read
        self.stamps: dict[str, str] = {}
        """The stamps a snapshot was saved with (:meth:`save`); empty otherwise."""
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
        self._lazy.pop(source_id, None)
        self._pending = [k for k in self._pending if k.source_id != source_id]
        self._removed.add(source_id)
        return True

    def _len(self, k: SourceKeys) -> int:
        lazy = self._lazy.get(k.source_id)
        return len(k) if lazy is None else int(lazy[0].bases[lazy[1] + 1] - lazy[0].bases[lazy[1]])

    def compact(self) -> None:
        """Rebuild one segment from the live sources (drops removed keys)."""
        if self._lazy:  # sources loaded from a snapshot: their codes, read back
            back: dict[int, _U32] = {}
            for sid, (seg, i) in self._lazy.items():
                if sid in self._keys:
                    if id(seg) not in back:
                        back[id(seg)] = _codes_back(seg)
                    a, b = int(seg.bases[i]), int(seg.bases[i + 1])
                    k = self._keys[sid]
                    self._keys[sid] = SourceKeys(sid, k.t0, back[id(seg)][a:b], k.duration_s)
            self._lazy = {}
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

    @property
    def changed(self) -> int:
        """Sources added or removed since the index was built or loaded whole."""
        return len(self._removed) + sum(len(s.ids) for s in self._segments[1:]) + len(self._pending)

    # ---------------------------------------------------------------- snapshot

    def save(self, folder: Path, stamps: dict[str, str] | None = None) -> None:
        """Write the index's segments to ``folder`` (made anew; written to a sibling and
        renamed into place, so a reader never sees half a snapshot). Removed sources'
        keys are dropped first (a :meth:`compact`); other segments are written as they are.
        ``stamps`` (a word per source: what the caller checks the snapshot against) are
        kept with it and read back as :attr:`stamps`."""
        if self._removed or self._dirty:
            self.compact()
        self._freeze()
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        where: dict[str, tuple[int, int]] = {}
        for si, seg in enumerate(self._segments):
            seg.save(tmp / f"seg{si}")
            where.update({sid: (si, i) for i, sid in enumerate(seg.ids)})
        if any(sid not in where for sid, k in self._keys.items() if self._len(k)):
            raise InvalidInput("index snapshot: a source is missing from its segments")
        meta = {
            "version": INDEX_VERSION,
            "tables": TABLES,
            "bits": BITS,
            "segments": len(self._segments),
            "stamps": dict(stamps or {}),
            "sources": {
                sid: [k.t0, k.duration_s, self._len(k)] for sid, k in sorted(self._keys.items())
            },
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> ArchiveIndex:
        """An index saved by :meth:`save`, its arrays memory-mapped (InvalidInput if it
        is not a snapshot of this key format). Its sources' codes are not read: a
        :meth:`compact` reads them back from the postings."""
        try:
            meta = json.loads((folder / "meta.json").read_text())
            if (meta["version"], meta["tables"], meta["bits"]) != (INDEX_VERSION, TABLES, BITS):
                raise InvalidInput(f"index snapshot format {meta['version']} is stale")
            segs = [_Segment.load(folder / f"seg{i}") for i in range(int(meta["segments"]))]
            index = cls()
            for seg in segs:
                if len(seg.bases) != len(seg.ids) + 1:
                    raise InvalidInput("index snapshot: ids and key counts disagree")
                lens = np.diff(seg.bases)
                for i, sid in enumerate(seg.ids):
                    t0, dur, n = meta["sources"][sid]
                    if n != int(lens[i]):
                        raise InvalidInput("index snapshot: ids and key counts disagree")
                    index._keys[sid] = SourceKeys(sid, float(t0), _NO_CODES, float(dur))
                    index._lazy[sid] = (seg, i)
            for sid, (t0, dur, _n) in meta["sources"].items():
                if sid not in index._keys:  # a source too short to key
                    index._keys[sid] = SourceKeys(sid, float(t0), _NO_CODES, float(dur))
            index.stamps = {str(k): str(v) for k, v in dict(meta.get("stamps", {})).items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"not an index snapshot: {exc}") from exc
        index._segments = segs
        return index

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
        return sum(self._len(k) for k in self._keys.values())

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

        ``allowed`` restricts the sources proposed (those the caller may see). The leak
        is keyed at the speed nearest 1, not mirrored, first; when one alignment then
        stands out (:data:`CLEAR_VOTES`, :data:`CLEAR_RATIO`) the other speeds and the
        mirror are not tried, and the candidates say so (``complete`` False).
        """
        self._freeze()
        lo = float(leak.times[0]) if start is None else start
        hi = float(leak.times[-1]) if end is None else end
        if len(leak) < 2 or (hi - lo) * HZ * min(rates) < WINDOW + 2:
            return []
        keeps = []
        for seg in self._segments:
            keep = np.array(
                [
                    (sid not in self._removed) and (allowed is None or sid in allowed)
                    for sid in seg.ids
                ],
                bool,
            )
            keeps.append(keep)
        if not any(k.any() for k in keeps):
            return []
        first = min(range(len(rates)), key=lambda i: abs(rates[i] - 1.0))
        variants = [(first, False)] + [
            (ri, m)
            for m in (False, True)
            for ri in sorted(range(len(rates)), key=lambda i: abs(rates[i] - 1.0))
            if (ri, m) != (first, False)
        ]
        stages = [variants[:1], variants[1:]]
        grids: dict[int, tuple[float, _F64]] = {}
        votes: list[list[NDArray[np.int64]]] = [[] for _ in self._segments]
        ranked: list[tuple[tuple[str, int, int], int]] = []
        offsets_of: dict[tuple[str, int, int], int] = {}
        complete = True
        for si, stage in enumerate(stages):
            for ri, mirrored in stage:
                if ri not in grids:
                    grids[ri] = grid_signals(leak, HZ, rate=rates[ri], start=lo, end=hi)
                probes = _variant_probes(grids[ri][1], mirrored)
                if probes is None:
                    continue
                codes, q = probes
                tag = ri * 2 + int(mirrored)
                for seg, keep, vk in zip(self._segments, keeps, votes, strict=True):
                    if not keep.any():
                        continue
                    for t in range(TABLES):
                        g, which = seg.gather(t, codes[t])
                        if len(g) == 0:
                            continue
                        g64 = g.astype(np.int64)
                        if not keep.all():  # hidden sources' postings go
                            ok = keep[np.searchsorted(seg.bases, g64, side="right") - 1]
                            g, g64, which = g[ok], g64[ok], which[ok]
                        # The alignment: the keying (high bits) and the segment's sample
                        # that meets the leak's first, in one integer; the source is
                        # found for the best alignments only.
                        vk.append((g64 * HOP - q[which] + _BIAS) + (tag << _TAG_SHIFT))
            half = np.zeros(16, np.int64)
            for ri, (_t0, sig) in grids.items():
                half[2 * ri : 2 * ri + 2] = sig.shape[1] // 2
            ranked, offsets_of = self._rank(votes, limit, rates, half)
            if si == 0 and len(stages) > 1 and self._clear(ranked, offsets_of):
                complete = False
                break
        return self._proposals(ranked, offsets_of, rates, grids, lo, hi, limit, complete)

    def _rank(
        self,
        votes: list[list[NDArray[np.int64]]],
        limit: int,
        rates: tuple[float, ...],
        half: NDArray[np.int64],
    ) -> tuple[list[tuple[tuple[str, int, int], int]], dict[tuple[str, int, int], int]]:
        """Alignments by votes, one per 0.5 s cell of the leak's middle.

        An alignment's votes are pooled over neighbouring offsets (speed and rounding
        smear a peak by a sample) and summed over the keyings (speed, mirror) that put
        the leak's middle in the same second of the same source: a copy's windows agree
        with the source at the two speeds nearest its own, and often under both signs,
        chance agreements at one keying only. ``half[tag]``: samples from the leak's
        first to its middle, in keying ``tag``.
        """
        pooled: dict[tuple[str, int, int], int] = {}
        offsets_of: dict[tuple[str, int, int], int] = {}
        for seg, vk in zip(self._segments, votes, strict=True):
            if not vk:
                continue
            keys_u, counts = np.unique(np.concatenate(vk), return_counts=True)
            # Neighbouring offsets of one keying sit side by side in the sorted keys.
            pc = counts.copy()
            nb = np.flatnonzero(keys_u[1:] == keys_u[:-1] + 1)
            pc[nb] += counts[nb + 1]
            pc[nb + 1] += counts[nb]
            # Chance alone gives most alignments one vote: those are left out of the sums
            # (unless too few alignments have more).
            idx = np.flatnonzero(pc >= 2)
            if len(idx) < limit * 8:
                idx = np.arange(len(keys_u))
            ku, kc = keys_u[idx], pc[idx]
            tag = ku >> _TAG_SHIFT
            sample = (ku & ((1 << _TAG_SHIFT) - 1)) - _BIAS
            cell = (sample + half[tag]) // 5  # the leak's middle, 0.5 s cells
            # Per (cell, keying): its best alignment.
            k2 = cell * 16 + tag
            order = np.lexsort((-kc, k2))
            k2s = k2[order]
            first = np.concatenate([[True], k2s[1:] != k2s[:-1]])
            k2u, best, which = k2s[first], kc[order][first], order[first]
            # Per cell: the sum over keyings of each keying's best within one cell.
            ext = np.concatenate([k2u - 16, k2u, k2u + 16])
            val = np.tile(best, 3)
            o3 = np.lexsort((-val, ext))
            e3 = ext[o3]
            f3 = np.concatenate([[True], e3[1:] != e3[:-1]])
            cells3, vals3 = e3[f3] // 16, val[o3][f3]
            b3 = np.concatenate([[True], cells3[1:] != cells3[:-1]])
            starts = np.flatnonzero(b3)
            cell_u, score = cells3[starts], np.add.reduceat(vals3, starts)
            top = np.argsort(-score, kind="stable")[: limit * 8]
            # Each top cell's alignment: the keying with most votes in it (or beside it,
            # where its sum took them from); its source: the one holding the leak's middle.
            cu = k2u // 16
            src_samples = seg.bases * HOP
            for c, score_v in zip(cell_u[top].tolist(), score[top].tolist(), strict=True):
                lo_, hi_ = np.searchsorted(cu, [c - 1, c + 2])
                # Its best keyings (RIVALS of them, one alignment each): on a short
                # leak a neighbouring speed can outvote the true one by a vote.
                # The rival ranks below the best by the votes it has fewer.
                got: set[int] = set()
                here = best[lo_:hi_]
                for r in np.argsort(-here, kind="stable").tolist():
                    j = int(which[lo_ + r])
                    tg = int(tag[j])
                    if tg in got:
                        continue
                    got.add(tg)
                    v = int(score_v) - int(here.max() - here[r])
                    self._place(
                        seg.ids, src_samples, j, tag, sample, half, int(v), pooled, offsets_of
                    )
                    if len(got) >= RIVALS:
                        break
        # Rank alignments by votes; between speeds voting alike, the nearer to 1 wins.
        ranked = sorted(pooled.items(), key=lambda kv: (-kv[1], abs(rates[kv[0][2] // 2] - 1.0)))
        return ranked, offsets_of

    @staticmethod
    def _place(
        ids: list[str],
        src_samples: NDArray[np.int64],
        j: int,
        tag: NDArray[np.int64],
        sample: NDArray[np.int64],
        half: NDArray[np.int64],
        v: int,
        pooled: dict[tuple[str, int, int], int],
        offsets_of: dict[tuple[str, int, int], int],
    ) -> None:
        """Record alignment ``j`` with ``v`` votes, in the source holding the leak's middle."""
        tg, smp = int(tag[j]), int(sample[j])
        si = int(np.searchsorted(src_samples, smp + int(half[tg]), side="right")) - 1
        si = min(max(si, 0), len(ids) - 1)
        off = smp - int(src_samples[si])  # source - leak samples
        key = (ids[si], off // 5, tg)
        if v > pooled.get(key, 0):
            pooled[key] = v
            offsets_of[key] = off

    def _clear(
        self,
        ranked: list[tuple[tuple[str, int, int], int]],
        offsets_of: dict[tuple[str, int, int], int],
    ) -> bool:
        """Whether the best alignment stands out from every other (not within 2 s of it)."""
        if not ranked or ranked[0][1] < CLEAR_VOTES:
            return False
        (sid, _cell, _tag), best = ranked[0]
        off = offsets_of[ranked[0][0]]
        others = [
            v
            for (s, c, g), v in ranked[1:]
            if s != sid or abs(offsets_of[(s, c, g)] - off) > 2 * HZ
        ]
        return best >= CLEAR_RATIO * max(others, default=1)

    def _proposals(
        self,
        ranked: list[tuple[tuple[str, int, int], int]],
        offsets_of: dict[tuple[str, int, int], int],
        rates: tuple[float, ...],
        grids: dict[int, tuple[float, _F64]],
        lo: float,
        hi: float,
        limit: int,
        complete: bool,
    ) -> list[Candidate]:
        out: list[Candidate] = []
        seen: list[tuple[str, float, int]] = []
        for (sid, cell, tag), votes in ranked:
            rate = rates[tag // 2]
            mirrored = bool(tag % 2)
            off = offsets_of[(sid, cell, tag)]
            # Source time t0_src + off/HZ + (leak sample)/HZ meets leak time
            # t0_leak + sample/(rate*HZ): t_src = t0_src + off/HZ - rate*t0_leak + rate*t.
            offset_s = self._keys[sid].t0 + off / HZ - rate * grids[tag // 2][0]
            mid = offset_s + rate * 0.5 * (lo + hi)
            # One candidate per place and key (speed, mirror), and at most RIVALS keys
            # per place: on a short leak a neighbouring speed can outvote the true
            # one by a vote, and the exact stage only searches near a candidate's speed.
            here = [t for s, m, t in seen if s == sid and abs(m - mid) < 2.0]
            if tag in here or len(here) >= RIVALS:
                continue
            seen.append((sid, mid, tag))
            out.append(Candidate(sid, offset_s, rate, mirrored, votes, complete))
            if len(out) >= limit:
                break
        return out


def _codes_back(seg: _Segment) -> _U32:
    """Every key's codes (n, TABLES) of a segment, read back from its postings."""
    total = int(seg.bases[-1])
    out = np.zeros((total, TABLES), np.uint32)
    for t in range(TABLES):
        starts = np.asarray(seg.offsets[t]).astype(np.int64)
        p = seg.present[t]
        row_code = np.arange(len(starts) - 1, dtype=np.uint32) if p is None else np.asarray(p)
        out[np.asarray(seg.postings[t]).astype(np.int64), t] = np.repeat(row_code, np.diff(starts))
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
    and, for the first, within ±6.75 % of it, for the second within ±2.25 %. Once a
    candidate is confirmed, those with under 1/:data:`CLEAR_RATIO` of its votes (the
    chance level) are not scored. Matches are
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
    confirmed = 0  # the most votes of a candidate the exact stage confirmed
    for k, cand in enumerate(proposed):
        if any(
            m.source_id == cand.source_id
            and abs(m.to_source(0.5 * (lo + hi)) - (cand.offset_s + cand.rate * 0.5 * (lo + hi)))
            < 2.0
            for m in found
        ):
            continue
        if found and cand.votes * CLEAR_RATIO < confirmed:
            continue  # at the chance level beside a confirmed match: not worth scoring
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
        # The first candidate's sweep covers every speed the keys cover (about
        # 0.93-1.07): its look-up may have stopped at speed 1, and a speed between two
        # keyed ones can vote more for the wrong one of the two (measured: a leak at
        # 1.05 voted 5 at 1.00).
        steps = 9 if k == 0 else 3
        tries = (0.0, *(s * i * 0.0075 for i in range(1, steps + 1) for s in (-1, 1)))
        tries = tries if k < 2 else (0.0,)

        def at(d: float, c: Candidate = cand, p: Fingerprint = piece) -> list[SourceMatch]:
            return locate(
                _rescaled(leak, c.rate * (1.0 + d)),
                {c.source_id: p},
                min_score=min_score,
                min_z=min_z,
                max_pieces=1,
            )

        for d in tries:
            rate = cand.rate * (1.0 + d)
            matches = at(d)
            if matches:
                break
        if matches and d != 0.0:
            # Found off the candidate's speed: on along the sweep while z grows (the
            # first speed that clears the thresholds is at the edge of the peak).
            step = 0.0075 if d > 0 else -0.0075
            while abs(d + step) <= 0.07:
                better = at(d + step)
                if not better or better[0].z <= matches[0].z:
                    break
                d, matches = d + step, better
                rate = cand.rate * (1.0 + d)
        if matches:
            confirmed = max(confirmed, cand.votes)
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
