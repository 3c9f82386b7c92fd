"""Disclosure by written policy: policy packs and the decision engine.

A *policy pack* is a declarative file (YAML, parsed at the edge by
:mod:`custodes.storage.packs`) holding versioned rules, each with a citation, a condition
over the facts of a release request and an effect. :func:`decide` applies a pack to the
:class:`Facts` of one request and returns a :class:`Decision`.

The engine is pure and deterministic: no I/O, no clock, no randomness, no dependence on
the order of rules in the file. The grammar, the conflict-resolution rules and the
deadline arithmetic are documented in ``docs/disclosure.md``.

One idea per module:

* :mod:`~custodes.core.disclosure.vocabulary`: the words and limits a pack may use;
* :mod:`~custodes.core.disclosure.facts`: the facts of a request and their types;
* :mod:`~custodes.core.disclosure.conditions`: the condition language;
* :mod:`~custodes.core.disclosure.deadlines`: working days and statutory clocks;
* :mod:`~custodes.core.disclosure.pack`: the validated pack model;
* :mod:`~custodes.core.disclosure.reader`: a parsed document to a pack, with file and line
  in every error;
* :mod:`~custodes.core.disclosure.overlap`: equal-priority rules that contradict;
* :mod:`~custodes.core.disclosure.engine`: :func:`decide` and the :class:`Decision`.

Packs are models for review by counsel, not legal advice; every pack must say so.
"""

from __future__ import annotations

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.core.disclosure.conditions import Condition, ConditionError
from custodes.core.disclosure.deadlines import Clock, DeadlinePolicy, working_days_after
from custodes.core.disclosure.engine import Decision, FiredRule, Ground, Redaction, decide
from custodes.core.disclosure.facts import FACT_TYPES, Facts, FactType
from custodes.core.disclosure.pack import HoldSpec, Notice, PolicyPack, RedactionSpec, Rule
from custodes.core.disclosure.vocabulary import (
    DAY_COUNTS,
    DISCLAIMER_MARK,
    EVIDENCE_FLAGS,
    HOLD_ANCHORS,
    HOLD_EVENTS,
    MAX_CONDITION_CHARS,
    MAX_CONDITION_DEPTH,
    MAX_DAYS,
    MAX_OVERLAP_CASES,
    OUTCOMES,
    RANGE_FACTS,
    RANGED_REDACTIONS,
    REDACTION_KINDS,
    REQUESTER_KINDS,
    SEVERITY,
    FactValue,
    Path,
    TimeRange,
)

__all__ = [
    "DAY_COUNTS",
    "DISCLAIMER_MARK",
    "EVIDENCE_FLAGS",
    "FACT_TYPES",
    "HOLD_ANCHORS",
    "HOLD_EVENTS",
    "MAX_CONDITION_CHARS",
    "MAX_CONDITION_DEPTH",
    "MAX_DAYS",
    "MAX_OVERLAP_CASES",
    "OUTCOMES",
    "RANGED_REDACTIONS",
    "RANGE_FACTS",
    "REDACTION_KINDS",
    "REQUESTER_KINDS",
    "SEVERITY",
    "CaseFlag",
    "CaseStatus",
    "Clock",
    "Condition",
    "ConditionError",
    "DeadlinePolicy",
    "Decision",
    "FactType",
    "FactValue",
    "Facts",
    "FiredRule",
    "Ground",
    "HoldSpec",
    "Notice",
    "Path",
    "PolicyPack",
    "Redaction",
    "RedactionSpec",
    "Rule",
    "TimeRange",
    "decide",
    "working_days_after",
]
