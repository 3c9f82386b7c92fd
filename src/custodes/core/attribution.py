"""Attribution maths of a leak trace: which issued copies to name, and at what threshold.

A trace scores the residual of a leaked clip against the key of every export that
overlaps the located seconds (the *candidates*). Copies whose marks were made with
different parameters (grid, period, strength, version: ``watermark.MarkParams``) need
different accumulators, so the candidates are first grouped by those parameters
(:func:`group_by_mark`). Each group is scored with its own never-issued keys, its
empirical null, and :func:`attribute_groups` turns scores into verdicts with
``core.stats.attribute`` (empirical null with the model floor).

What a trace *states* is floored (:func:`state_p`): the computed p-value decides who is
named, but no p-value below :data:`P_FLOOR` is printed, and each candidate also carries
the measured share of never-issued keys that scored as high (:func:`null_exceedances`).
See docs/tracing.md, "How small a p-value a trace states".

The family is the whole trace, not the group: a group of ``k`` of the trace's ``n``
candidates gets ``alpha * k / n`` of the error budget, so every candidate faces the same
threshold ``alpha / n`` (Bonferroni over every candidate, whatever its group) and the
chance of naming *any* innocent recipient in one trace stays below ``alpha``. More
candidates mean a smaller threshold: a larger pool of suspects needs stronger evidence.

Pure: numbers and ids in, numbers and verdicts out; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from custodes.core import stats
from custodes.core.watermark import MarkParams

__all__ = [
    "P_FLOOR",
    "GroupScores",
    "MarkGroup",
    "MarkedCopy",
    "NullSummary",
    "attribute_groups",
    "candidate_threshold",
    "group_by_mark",
    "mark_key",
    "null_exceedances",
    "state_p",
    "summarize_null",
    "trace_false_accusation",
]


P_FLOOR = 1e-9
"""The smallest false-accusation probability a trace states ("less than 1 in 10^9").

The p-value that names a copy comes from the watermark's tail bound, a theorem about the
score of a key that was never used to embed. It holds only if the vault's records verify
(the copies, recipients and keys are those the signed log vouches for, the watermark
secret is the vault's own) and the software does what it says; its calibration was
measured per trace with 1,000 never-issued keys (down to 1/1001) and in the benchmark with
11 million (at or below the nominal rate down to 1e-6, docs/benchmarks.md). Below that the
figure is the bound's extrapolation, and a wrong record or a defect is far likelier than
1e-300. The floor is below the naming threshold of any trace with fewer than 1,000
candidates (1e-6 / n), so it states what the naming rests on without changing who is
named."""


@dataclass(frozen=True)
class StatedP:
    """A p-value as a trace states it: ``value``, or ``p < value`` when ``below``."""

    value: float
    below: bool


def state_p(p: float, floor: float = P_FLOOR) -> StatedP:
    """``p`` as a trace may state it: never below ``floor`` (then ``below`` is true)."""
    return StatedP(floor, True) if p < floor else StatedP(p, False)


def null_exceedances(score: float, null: Sequence[float]) -> int:
    """How many never-issued keys scored at least ``score``: with ``k`` of ``n``, the
    measured p-value, free of any model, is ``(k + 1) / (n + 1)``."""
    return sum(1 for s in null if s >= score)


@dataclass(frozen=True)
class MarkedCopy:
    """A candidate: an issued copy and the parameters of its mark, as recorded with it."""

    copy_id: str
    params: Mapping[str, object]


@dataclass(frozen=True)
class MarkGroup:
    """Candidates whose marks share their parameters (one accumulator scores them all)."""

    key: str  # the parameters as canonical JSON (see mark_key)
    params: MarkParams
    copy_ids: tuple[str, ...]


@dataclass(frozen=True)
class GroupScores:
    """One group's scores: each candidate's, and the never-issued keys' (its null)."""

    scores: Mapping[str, float]
    null: Sequence[float]


@dataclass(frozen=True)
class NullSummary:
    """What the never-issued keys of a trace scored, for the report."""

    keys: int
    mean: float
    std: float
    max: float


def mark_key(params: Mapping[str, object]) -> str:
    """The grouping key of a mark's parameters: canonical JSON (sorted keys)."""
    return json.dumps(dict(params), sort_keys=True)


def group_by_mark(copies: Sequence[MarkedCopy]) -> tuple[MarkGroup, ...]:
    """The candidates grouped by mark parameters, groups in order of first appearance.

    With no candidate at all there is still one group, with the default parameters and
    no copies: the trace scores never-issued keys for its report either way.
    """
    members: dict[str, list[str]] = {}
    for copy in copies:
        members.setdefault(mark_key(copy.params), []).append(copy.copy_id)
    if not members:
        members[mark_key(MarkParams().to_dict())] = []
    return tuple(
        MarkGroup(key, MarkParams.from_dict(json.loads(key)), tuple(ids))
        for key, ids in members.items()
    )


def attribute_groups(
    groups: Sequence[GroupScores],
    alpha: float,
    *,
    model_sf: Callable[[float], float] = stats.gaussian_sf,
) -> dict[str, stats.Attribution]:
    """Every candidate's verdict, by candidate id, with the threshold shared by the trace.

    A group of ``k`` of the ``n`` candidates is attributed at ``alpha * k / n``, which
    ``stats.attribute`` divides by ``k``: each candidate is named only when its p-value
    is below ``alpha / n`` (Bonferroni over the whole trace). Groups without candidates
    are skipped. ``model_sf`` is the theoretical null tail (``watermark.score_tail_bound``
    for the forensic mark).
    """
    n_total = sum(len(g.scores) for g in groups)
    out: dict[str, stats.Attribution] = {}
    for group in groups:
        if not group.scores:
            continue
        share = alpha * len(group.scores) / max(1, n_total)
        for a in stats.attribute(group.scores, group.null, share, model_sf=model_sf):
            out[a.candidate] = a
    return out


def summarize_null(scores: Sequence[float]) -> NullSummary:
    """Count, mean, standard deviation and maximum of the never-issued keys' scores.

    Fewer than two scores have no spread: mean 0 and standard deviation 1 (the model's
    null) are shown instead.
    """
    mean, std = stats.empirical_null(scores) if len(scores) > 1 else (0.0, 1.0)
    return NullSummary(keys=len(scores), mean=mean, std=std, max=max(scores) if scores else 0.0)


def candidate_threshold(alpha: float, n_candidates: int) -> float:
    """The p-value each of ``n_candidates`` must beat (at least one is assumed)."""
    return stats.family_threshold(alpha, max(1, n_candidates))


def trace_false_accusation(p_values: Sequence[float]) -> float:
    """The chance that naming the best candidate of a trace is a false accusation.

    The smallest p-value, Bonferroni-adjusted for the number of candidates (not capped
    at 1; the report words it).
    """
    return min(p_values) * max(1, len(p_values))
