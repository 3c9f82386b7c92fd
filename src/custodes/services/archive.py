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

from collections.abc import Callable, Sequence

from custodes.core.errors import CustodesError
from custodes.core.records import Evidence, StoredArchiveKeys
from custodes.media.archive import INDEX_VERSION, ArchiveIndex, SourceKeys, source_keys
from custodes.media.fingerprint import Fingerprint
from custodes.services.common import now_iso
from custodes.services.context import Context
from custodes.storage.uow import UnitOfWork

__all__ = ["forget_keys", "load_index", "store_keys"]

Fingerprints = Callable[[list[Evidence]], dict[str, Fingerprint]]


def store_keys(uow: UnitOfWork, evidence_id: str, fp: Fingerprint, created_at: str) -> SourceKeys:
    """Key a fingerprint and keep its row (in the caller's transaction)."""
    keys = source_keys(evidence_id, fp)
    uow.archive_keys.put(StoredArchiveKeys(evidence_id, INDEX_VERSION, keys.to_bytes(), created_at))
    return keys


def forget_keys(uow: UnitOfWork, evidence_id: str) -> bool:
    """Drop an evidence item's keys (retention: call where the evidence goes)."""
    return uow.archive_keys.remove(evidence_id) > 0


def load_index(
    ctx: Context, sources: Sequence[Evidence], fingerprints: Fingerprints
) -> ArchiveIndex:
    """The index over ``sources``: their stored keys; the keys of any source without a
    readable row are made from its (vouched) fingerprint and stored."""
    with ctx.uow(readonly=True) as uow:
        rows = {r.evidence_id: r.data for r in uow.archive_keys.all(INDEX_VERSION)}
    keys: list[SourceKeys] = []
    missing: list[Evidence] = []
    for ev in sources:
        data = rows.get(ev.id)
        if data is None:
            missing.append(ev)
            continue
        try:
            keys.append(SourceKeys.from_bytes(ev.id, data))
        except CustodesError:
            missing.append(ev)
    if missing:
        fps = fingerprints(missing)
        with ctx.uow() as uow:
            for ev in missing:
                if ev.id in fps:
                    keys.append(store_keys(uow, ev.id, fps[ev.id], now_iso(ctx)))
            uow.commit()
    return ArchiveIndex(keys)
