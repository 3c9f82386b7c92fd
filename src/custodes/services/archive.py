"""The archive index's keys in the vault (issue 20): made where fingerprints are made,
stored one row per evidence item (``archive_keys``), loaded into a
:class:`custodes.media.archive.ArchiveIndex` for a search of every recording.

The keys are derived from the fingerprints (a few milliseconds per hour of video) and
are operational, not bound to the log (docs/audit-log.md): a key row altered behind the
vault's back can make the index miss a source or propose a wrong one, never name one,
because every candidate is scored on its fingerprint, which its signed ``fingerprint``
event vouches for. ``custodes index --rebuild`` makes every row anew from the vouched
fingerprints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

from custodes.core.errors import CustodesError
from custodes.core.records import Evidence, StoredArchiveKeys
from custodes.media.archive import INDEX_VERSION, ArchiveIndex, SourceKeys, source_keys
from custodes.media.fingerprint import Fingerprint
from custodes.services.common import now_iso
from custodes.services.context import Context
from custodes.storage.uow import UnitOfWork

__all__ = ["SNAPSHOT_SLACK", "forget_keys", "load_index", "snapshot_dir", "store_keys"]

Fingerprints = Callable[[list[Evidence]], dict[str, Fingerprint]]


def store_keys(uow: UnitOfWork, evidence_id: str, fp: Fingerprint, created_at: str) -> SourceKeys:
    """Key a fingerprint and keep its row (in the caller's transaction)."""
    keys = source_keys(evidence_id, fp)
    uow.archive_keys.put(StoredArchiveKeys(evidence_id, INDEX_VERSION, keys.to_bytes(), created_at))
    return keys


def forget_keys(uow: UnitOfWork, evidence_id: str) -> bool:
    """Drop an evidence item's keys (retention: call where the evidence goes)."""
    return uow.archive_keys.remove(evidence_id) > 0


SNAPSHOT_SLACK = 0.1
"""A snapshot lacking more than this share of the sources searched (or 64, whichever is
more) is made anew; fewer are keyed into a small segment beside it at each search."""


def snapshot_dir(ctx: Context) -> Path | None:
    """Where the built index is kept between searches (None: no cache folder)."""
    if ctx.cache_dir is None:
        return None
    return ctx.cache_dir / "archive-index" / f"v{INDEX_VERSION}"


def load_index(
    ctx: Context, sources: Sequence[Evidence], fingerprints: Fingerprints
) -> ArchiveIndex:
    """The index over ``sources``: their stored keys; the keys of any source without a
    readable row are made from its (vouched) fingerprint and stored.

    The built inverted files are kept as a memory-mapped snapshot in the cache folder
    (:func:`snapshot_dir`), stamped with each source's key row (``created_at``): a
    search loads it in a fraction of a second instead of reading and sorting every key
    row. A snapshot of another key format, or with a source whose row changed since, is
    made anew from every row; sources keyed since it was made are added beside it
    (:data:`SNAPSHOT_SLACK`); sources it has that are not searched are hidden."""
    folder = snapshot_dir(ctx)
    with ctx.uow(readonly=True) as uow:
        stamps = uow.archive_keys.stamps(INDEX_VERSION)
    wanted = {ev.id for ev in sources}
    index = _snapshot(folder, stamps, wanted) if folder is not None else None
    fresh = index is None
    if index is None:
        with ctx.uow(readonly=True) as uow:
            rows = uow.archive_keys.all(INDEX_VERSION)
        index = ArchiveIndex(_decoded(rows))
    missing = [ev for ev in sources if ev.id not in index]
    if missing:
        with ctx.uow(readonly=True) as uow:
            rows = uow.archive_keys.some([ev.id for ev in missing], INDEX_VERSION)
        for k in _decoded(rows):
            index.add(k)
        unkeyed = [ev for ev in missing if ev.id not in index]
        if unkeyed:
            fps = fingerprints(unkeyed)
            with ctx.uow() as uow:
                for ev in unkeyed:
                    if ev.id in fps:
                        index.add(store_keys(uow, ev.id, fps[ev.id], now_iso(ctx)))
                uow.commit()
    if fresh and folder is not None:
        with ctx.uow(readonly=True) as uow:
            stamps = uow.archive_keys.stamps(INDEX_VERSION)
        with contextlib.suppress(OSError):  # a cache: the next search makes it again
            index.save(folder, {sid: stamps[sid] for sid in index.source_ids if sid in stamps})
    for sid in index.source_ids:
        if sid not in wanted:
            index.remove(sid)  # hidden: not among the sources searched
    return index


def _decoded(rows: Sequence[StoredArchiveKeys]) -> list[SourceKeys]:
    keys: list[SourceKeys] = []
    for r in rows:
        try:
            keys.append(SourceKeys.from_bytes(r.evidence_id, r.data))
        except CustodesError:
            continue  # unreadable: keyed anew from its fingerprint if it is searched
    return keys


def _snapshot(folder: Path, stamps: dict[str, str], wanted: set[str]) -> ArchiveIndex | None:
    """The snapshot in ``folder`` if it is of this key format and every source in it
    still has the key row it was built from; None otherwise (it is made anew)."""
    try:
        index = ArchiveIndex.load(folder)
    except CustodesError:
        return None
    for sid in index.source_ids:
        if sid not in stamps:
            index.remove(sid)  # its row went (retention): hidden, dropped at the next rebuild
        elif stamps[sid] != index.stamps.get(sid):
            return None  # its row was made anew (a rebuild): stale
    lacking = len(wanted - set(index.source_ids))
    if lacking > max(64, SNAPSHOT_SLACK * len(wanted)):
        return None
    return index
