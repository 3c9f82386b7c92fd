"""Locate a leaked clip in the whole archive, without attributing a copy (issue 20).

``locate_leak`` answers "which recordings, which seconds" for a clip nobody can place:
the archive index (``media/archive.py``) proposes a few alignments among every
recording the actor may trace against, the exact search (``media/locate.py``) scores
them on their vouched fingerprints. It names no recipient and writes no report; it is
on the audit log as a ``locate`` event (the leak's digest and every source found),
as a trace is. ``rebuild_index`` makes every key row anew from the vouched fingerprints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from custodes.core.custody import Action
from custodes.core.errors import InvalidInput
from custodes.media.archive import INDEX_VERSION
from custodes.media.probe import probe
from custodes.services.archive import store_keys
from custodes.services.common import now_iso, sha256_file
from custodes.services.context import Context
from custodes.services.trace import _fingerprints, _traceable_evidence, locate_sources
from custodes.services.usecase import acting

__all__ = ["Located", "LocatedSource", "Rebuilt", "locate_leak", "rebuild_index"]


@dataclass(frozen=True)
class LocatedSource:
    """A stretch of the leak found in one recording: ``t_src = offset_s + rate * t_leak``."""

    evidence_id: str
    case_number: str
    offset_s: float
    rate: float
    mirrored: bool
    score: float
    """Mean correlation of the motion signals (1.0 an exact copy; unrelated below 0.2)."""
    z: float
    confidence: float
    """One minus the chance of a peak this high anywhere in the archive searched."""
    leak_start_s: float
    leak_end_s: float
    source_start_s: float
    source_end_s: float


@dataclass(frozen=True)
class Located:
    leak_name: str
    leak_sha256: str
    duration_s: float
    sources: list[LocatedSource]
    """Best first; empty when the footage is nowhere in the archive searched."""
    searched_evidence: int
    searched_hours: float
    audit_seq: int


@dataclass(frozen=True)
class Rebuilt:
    keyed: int
    """Evidence items whose keys were made anew."""
    evidence: int


def locate_leak(ctx: Context, actor_name: str | None, leak: Path) -> Located:
    """Where ``leak`` is in every recording the actor may trace against."""
    with acting(ctx, actor_name, readonly=True) as uc:
        sources = _traceable_evidence(uc, None)
    if not leak.is_file():
        raise InvalidInput(
            f"{leak} is a folder, not a video file" if leak.is_dir() else f"no such file: {leak}",
            field="leak",
        )
    leak_sha, _size = sha256_file(leak)
    info = probe(leak)
    task = ctx.progress.start("fingerprint leak", info.frame_count or None, unit="frame")
    matches = locate_sources(ctx, actor_name, sources, leak, None, task.advance)
    by_id = {ev.id: ev for ev in sources}
    found = [
        LocatedSource(
            evidence_id=m.source_id,
            case_number=by_id[m.source_id].case_number,
            offset_s=round(m.offset_s, 3),
            rate=round(m.rate, 4),
            mirrored=m.mirrored,
            score=round(m.score, 3),
            z=round(m.z, 1),
            confidence=m.confidence,
            leak_start_s=round(m.leak_start_s, 3),
            leak_end_s=round(min(m.leak_end_s, info.duration_s or m.leak_end_s), 3),
            source_start_s=round(m.source_start_s, 3),
            source_end_s=round(m.to_source(min(m.leak_end_s, info.duration_s or 0.0)), 3),
        )
        for m in matches
    ]
    hours = sum(ev.media.duration_s or 0.0 for ev in sources) / 3600
    with acting(ctx, actor_name) as uc:
        best = by_id[found[0].evidence_id] if found else None
        seq = uc.record(
            Action.LOCATE,
            case=best.case_number if best else None,
            evidence=best,
            object_type="leak",
            object_id=leak_sha,
            details={
                "leak_name": leak.name,
                "leak_sha256": leak_sha,
                "searched_evidence": len(sources),
                "found": [
                    {
                        "evidence": s.evidence_id,
                        "offset_s": s.offset_s,
                        "rate": s.rate,
                        "score": s.score,
                        "z": s.z,
                    }
                    for s in found
                ],
            },
        )
        uc.commit()
    return Located(leak.name, leak_sha, info.duration_s or 0.0, found, len(sources), hours, seq)


def rebuild_index(ctx: Context, actor_name: str | None) -> Rebuilt:
    """Make every key row anew from the vouched fingerprints (fingerprinting what has
    none), e.g. after the key format changed or a row was found altered."""
    with acting(ctx, actor_name, readonly=True) as uc:
        sources = _traceable_evidence(uc, None)
    fps = _fingerprints(ctx, actor_name, sources, skip=True)
    with acting(ctx, actor_name) as uc:
        for ev in sources:
            uc.uow.archive_keys.remove(ev.id)
            if ev.id in fps:
                store_keys(uc.uow, ev.id, fps[ev.id], now_iso(ctx))
        uc.record(
            Action.INDEX,
            object_type="archive-keys",
            details={"rebuilt": sorted(fps), "key_version": INDEX_VERSION},
        )
        uc.commit()
    return Rebuilt(keyed=len(fps), evidence=len(sources))
