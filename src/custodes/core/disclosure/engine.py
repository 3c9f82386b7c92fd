"""The decision engine: a pack applied to the facts of one request.

:func:`decide` applies a pack to the :class:`Facts` of one request and returns a
:class:`Decision`: the outcome (``release``, ``partial``, ``hold`` or ``deny``), every
rule that fired with the facts it read, the redactions, the hold and its review date,
the deadline and the hash of the pack.

The engine is pure and deterministic: no I/O, no clock (``Facts.today`` is an argument),
no randomness, no dependence on the order of rules in the file. The same facts and the
same pack (identified by its sha256) always give the same decision. The conflict-
resolution rules are documented in ``docs/disclosure.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from custodes.core.disclosure.facts import Facts, isoformat_or_none
from custodes.core.disclosure.pack import HoldSpec, PolicyPack, Rule
from custodes.core.disclosure.vocabulary import (
    OUTCOMES,
    RANGE_FACTS,
    RANGED_REDACTIONS,
    SEVERITY,
    FactValue,
    TimeRange,
)
from custodes.core.errors import InvalidInput


def _normalize_ranges(ranges: Sequence[TimeRange]) -> tuple[TimeRange, ...]:
    """Sorted, with overlapping or touching ranges merged."""
    out: list[TimeRange] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


@dataclass(frozen=True)
class FiredRule:
    id: str
    citation: str
    priority: int
    outcome: str | None
    decisive: bool
    reads: tuple[tuple[str, object], ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "citation": self.citation,
            "priority": self.priority,
            "outcome": self.outcome,
            "decisive": self.decisive,
            "reads": dict(self.reads),
        }


@dataclass(frozen=True)
class Ground:
    """One reason a decision gives, with the law it rests on: the two travel together, so
    that a letter can never print a reason beside another rule's citation.

    ``kind`` is ``rule`` (a rule's reason; ``rule`` names it), ``portion`` (only the time
    ranges asked for are released), ``hold`` (how long the release is held) or ``notice``
    (a sentence the pack adds for this outcome, e.g. the requester's rights).
    """

    kind: str
    text: str
    citation: str | None
    rule: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "text": self.text, "citation": self.citation, "rule": self.rule}

    @property
    def sentence(self) -> str:
        """The ground as one line of ``Decision.reasons`` (a notice carries its citation)."""
        return f"{self.text} ({self.citation})" if self.kind == "notice" else self.text


@dataclass(frozen=True)
class Redaction:
    kind: str
    ranges: tuple[TimeRange, ...] | None  # None: the whole recording / not ranged
    rules: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "rules": list(self.rules)}
        if self.kind in RANGED_REDACTIONS:
            out["ranges"] = "all" if self.ranges is None else [list(r) for r in self.ranges]
        return out


@dataclass(frozen=True)
class Decision:
    outcome: str
    rules: tuple[FiredRule, ...]
    pack_name: str
    pack_version: str
    pack_sha256: str
    decided_on: date
    due: date
    due_basis: tuple[tuple[str, str], ...]
    review_at: date | None
    hold_event: str | None
    hold_date: date | None
    evidence: tuple[str, ...] | None  # None: all evidence of the request
    ranges: tuple[TimeRange, ...] | None  # None: whole recordings
    redactions: tuple[Redaction, ...]
    grounds: tuple[Ground, ...]
    disclaimer: str

    @property
    def reasons(self) -> tuple[str, ...]:
        """The grounds as plain sentences (their citations are in ``grounds``)."""
        return tuple(g.sentence for g in self.grounds)

    @property
    def hold_until(self) -> dict[str, str] | None:
        if self.outcome != "hold":
            return None
        out: dict[str, str] = {}
        if self.hold_event is not None:
            out["event"] = self.hold_event
        if self.hold_date is not None:
            out["date"] = self.hold_date.isoformat()
        return out

    def to_dict(self) -> dict[str, object]:
        releases = self.outcome in ("release", "partial")
        return {
            "outcome": self.outcome,
            "rules": [r.to_dict() for r in self.rules],
            "pack": {"name": self.pack_name, "version": self.pack_version},
            "pack_sha256": self.pack_sha256,
            "decided_on": self.decided_on.isoformat(),
            "due": self.due.isoformat(),
            "due_basis": dict(self.due_basis),
            "review_at": isoformat_or_none(self.review_at),
            "hold_until": self.hold_until,
            "release": (
                {
                    "evidence": "all" if self.evidence is None else list(self.evidence),
                    "ranges": "all" if self.ranges is None else [list(r) for r in self.ranges],
                    "redactions": [r.to_dict() for r in self.redactions],
                }
                if releases
                else None
            ),
            "redactions": [r.to_dict() for r in self.redactions],
            "reasons": list(self.reasons),
            "grounds": [g.to_dict() for g in self.grounds],
            "disclaimer": self.disclaimer,
        }


def _jsonable(value: object) -> object:
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [list(v) if isinstance(v, tuple) else v for v in value]
    return value


def _reads(
    rule: Rule, facts: Facts, env: Mapping[str, FactValue]
) -> tuple[tuple[str, object], ...]:
    out = []
    for name in rule.reads():
        value = env[name] if name in env else getattr(facts, name)
        out.append((name, _jsonable(value)))
    return tuple(out)


def _order(rule: Rule) -> tuple[int, int, str]:
    severity = SEVERITY[rule.outcome] if rule.outcome else -1
    return (-rule.priority, -severity, rule.id)


def decide(pack: PolicyPack, facts: Facts, *, override: str | None = None) -> Decision:
    """Apply ``pack`` to ``facts``. Pure and deterministic; see docs/disclosure.md.

    Raises :class:`InvalidInput` when the pack is not in force on ``facts.today`` or
    ``override`` is not an outcome.

    ``override`` is the outcome a custodian records instead of the pack's: the rules fire
    and are reported as without it, and the decision is then built for that outcome in
    the same way (a release still covers only the evidence and ranges asked for, with
    the redactions of the fired rules; an override hold has no end of its own and is
    reviewed after the pack's review period).

    * Every rule whose condition holds *fires*. Its redactions always apply.
    * Among fired rules with an outcome, the highest priority wins; at equal priority
      the most restrictive outcome (deny > hold > partial > release). All fired rules of
      the winning priority and outcome are *decisive*. If no rule with an outcome fires,
      the pack's default decides.
    * A ``release`` that carries redactions or is limited to requested time ranges is
      reported as ``partial``.
    """
    pack.check_in_force(facts.today)
    env = facts.environment()
    fired = sorted((r for r in pack.rules if r.when.holds(env)), key=_order)
    deciding = [r for r in fired if r.outcome is not None]
    if deciding:
        top = deciding[0]
        decisive = [r for r in deciding if (r.priority, r.outcome) == (top.priority, top.outcome)]
    else:
        decisive = [pack.default]
        fired = [*fired, pack.default]
    outcome = decisive[0].outcome or "release"
    if override is not None:
        if override not in OUTCOMES:
            raise InvalidInput(f"unknown outcome '{override}' (outcomes: {', '.join(OUTCOMES)})")
        outcome = override
    decisive_ids = {r.id for r in decisive}

    # Redactions accumulate from every fired rule (and the default, when it decides).
    # A ranged redaction (audio, cut) covers the union of its ranges; "all" (None) wins.
    spans: dict[str, list[TimeRange] | None] = {}
    sources: dict[str, set[str]] = {}
    for rule in fired:
        for spec in rule.redactions:
            new: list[TimeRange] | None = None
            if spec.ranges in RANGE_FACTS:
                new = list(getattr(facts, str(spec.ranges)))
            if spec.kind not in spans:
                spans[spec.kind] = new
            else:
                have = spans[spec.kind]
                spans[spec.kind] = None if have is None or new is None else have + new
            sources.setdefault(spec.kind, set()).add(rule.id)
    redactions = tuple(
        Redaction(kind, None if rs is None else _normalize_ranges(rs), tuple(sorted(sources[kind])))
        for kind, rs in sorted(spans.items())
        # A ranged redaction over no marked range removes nothing.
        if rs is None or rs
    )

    ranges_out = _normalize_ranges(facts.requested_ranges) if facts.requested_ranges else None
    if outcome == "release" and (redactions or ranges_out is not None):
        outcome = "partial"

    hold_event: str | None = None
    hold_date: date | None = None
    review_at: date | None = None
    if outcome == "hold":
        holds = [(r.hold, r.id) for r in decisive if r.hold is not None]

        def strength(item: tuple[HoldSpec, str]) -> tuple[int, date, str]:
            spec, rid = item
            until = spec.until_date(facts)
            return (1 if spec.event else 0, until or date.max, rid)

        if holds:
            chosen, _ = max(holds, key=strength)
            hold_event = chosen.event
            hold_date = chosen.until_date(facts)
        candidates = [facts.today + timedelta(days=pack.review_every_days)] if not holds else []
        for other, _rid in holds:
            every = other.review_every_days or pack.review_every_days
            candidates.append(facts.today + timedelta(days=every))
            until = other.until_date(facts)
            if until is not None:
                candidates.append(max(until, facts.today))
        review_at = min(candidates)

    due, basis = pack.deadline.due(facts, env)

    # Each reason goes with its own rule's citation. An override keeps only the reasons
    # that support the outcome recorded: a hold's "a prosecution is pending" is no reason
    # for the release a custodian recorded instead.
    grounds: list[Ground] = []

    def ground(kind: str, text: str, citation: str | None, rule: str | None = None) -> None:
        if all(g.text != text for g in grounds):
            grounds.append(Ground(kind, text, citation, rule))

    for rule in fired:
        if rule.id in decisive_ids and (override is None or rule.outcome == override):
            ground("rule", rule.reason, rule.citation, rule.id)
    if outcome in ("release", "partial"):
        for rule in fired:
            if rule.id not in decisive_ids and rule.redactions:
                ground("rule", rule.reason, rule.citation, rule.id)
    if ranges_out is not None and outcome == "partial":
        shown = ", ".join(f"{s:g}-{e:g} s" for s, e in ranges_out)
        ground("portion", f"Only the portion asked for is released ({shown}).", None)
    if outcome == "hold" and review_at is not None:
        parts = []
        if hold_event:
            parts.append(f"until {hold_event.replace('-', ' ')}")
        if hold_date:
            parts.append(f"{'at the latest ' if hold_event else 'until '}{hold_date.isoformat()}")
        held = " ".join(["The release is held", ", ".join(parts)]).rstrip()
        ground("hold", f"{held}; it will be reviewed on {review_at.isoformat()}.", None)
    for notice in pack.notices:
        if outcome in notice.on:
            ground("notice", notice.text, notice.citation)

    return Decision(
        outcome=outcome,
        rules=tuple(
            FiredRule(
                id=r.id,
                citation=r.citation,
                priority=r.priority,
                outcome=r.outcome,
                decisive=r.id in decisive_ids,
                reads=_reads(r, facts, env),
            )
            for r in fired
        ),
        pack_name=pack.name,
        pack_version=pack.version,
        pack_sha256=pack.sha256,
        decided_on=facts.today,
        due=due,
        due_basis=tuple(sorted(basis.items())),
        review_at=review_at,
        hold_event=hold_event,
        hold_date=hold_date,
        evidence=facts.evidence_ids or None,
        ranges=ranges_out,
        redactions=redactions,
        grounds=tuple(grounds),
        disclaimer=pack.disclaimer,
    )
