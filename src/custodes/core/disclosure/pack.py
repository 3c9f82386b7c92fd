"""The validated model of a policy pack: rules, their effects, notices and deadlines.

A *policy pack* is a declarative file (YAML, parsed at the edge by
:mod:`custodes.storage.packs`) holding versioned rules, each with a citation, a condition
over the facts of a release request and an effect. :meth:`PolicyPack.from_document`
validates a parsed document (see :mod:`custodes.core.disclosure.reader`).

Packs are models for review by counsel, not legal advice; every pack must say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from custodes.core.disclosure.conditions import Condition
from custodes.core.disclosure.deadlines import DeadlinePolicy
from custodes.core.disclosure.facts import Facts
from custodes.core.disclosure.vocabulary import HOLD_ANCHORS, RANGE_FACTS, Path
from custodes.core.errors import InvalidInput


@dataclass(frozen=True)
class HoldSpec:
    """Hold until an event, until ``days`` after an anchor date, or until the event but
    no later than that date. ``review_every_days`` overrides the pack's default."""

    event: str | None = None
    anchor: str | None = None  # request | allegation | incident
    days: int | None = None
    review_every_days: int | None = None

    def until_date(self, facts: Facts) -> date | None:
        if self.anchor is None or self.days is None:
            return None
        start: date | None = getattr(facts, HOLD_ANCHORS[self.anchor])
        # An unknown anchor date counts from the request (documented fallback).
        return (start or facts.received_at) + timedelta(days=self.days)

    def reads(self) -> tuple[str, ...]:
        return () if self.anchor is None else (HOLD_ANCHORS[self.anchor],)


@dataclass(frozen=True)
class RedactionSpec:
    kind: str
    ranges: str | None = None  # a range fact name, or "all" (audio only)

    def reads(self) -> tuple[str, ...]:
        return (self.ranges,) if self.ranges in RANGE_FACTS else ()


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    citation: str
    when: Condition
    reason: str
    outcome: str | None = None
    hold: HoldSpec | None = None
    redactions: tuple[RedactionSpec, ...] = ()
    line: int = 0

    def reads(self) -> tuple[str, ...]:
        extra = [*(self.hold.reads() if self.hold else ())]
        for r in self.redactions:
            extra.extend(r.reads())
        return tuple(sorted(set(self.when.facts) | set(extra)))


@dataclass(frozen=True)
class Notice:
    citation: str
    text: str
    on: frozenset[str]


@dataclass(frozen=True)
class PolicyPack:
    name: str
    version: str
    jurisdiction: str
    effective_from: date
    expires: date
    disclaimer: str
    sha256: str
    source_name: str
    rules: tuple[Rule, ...]
    default: Rule
    deadline: DeadlinePolicy
    notices: tuple[Notice, ...] = ()
    review_every_days: int = 30

    @classmethod
    def from_document(
        cls,
        doc: object,
        lines: Mapping[Path, int],
        sha256: str,
        *,
        source_name: str,
    ) -> PolicyPack:
        """Validate a parsed pack document (plain dicts, lists and scalars).

        ``lines`` maps a path into the document (keys and list indexes) to its line in
        the file. Every problem raises :class:`InvalidInput` naming the file and line.
        """
        # The reader builds the model defined here; imported late to avoid a cycle.
        from custodes.core.disclosure.reader import read_pack

        return read_pack(doc, lines, sha256, source_name=source_name)

    def check_in_force(self, today: date) -> None:
        if today < self.effective_from:
            raise InvalidInput(
                f"{self.source_name}: pack '{self.name}' {self.version} takes effect on "
                f"{self.effective_from}; it cannot decide a request on {today}"
            )
        if today > self.expires:
            raise InvalidInput(
                f"{self.source_name}: pack '{self.name}' {self.version} expired on "
                f"{self.expires}; new decisions need a current pack",
                advice="have counsel review the pack and publish a new version",
            )
