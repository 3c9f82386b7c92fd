"""The words a policy pack may use: outcomes, requester kinds, evidence flags, hold
events, redaction kinds, day counts, and the limits the reader enforces."""

from __future__ import annotations

from typing import TypeAlias

OUTCOMES: tuple[str, ...] = ("release", "partial", "hold", "deny")
# Equal priority: the most restrictive outcome wins.
SEVERITY: dict[str, int] = {"release": 0, "partial": 1, "hold": 2, "deny": 3}
REQUESTER_KINDS: frozenset[str] = frozenset(
    {"press", "public", "subject", "prosecutor", "defense", "court"}
)
EVIDENCE_FLAGS: frozenset[str] = frozenset(
    {"minor", "victim", "medical", "home-interior", "informant", "bystander-face", "plate"}
)
HOLD_EVENTS: frozenset[str] = frozenset(
    {"adjudication", "ia-closed", "prosecution-decision", "investigation-closed"}
)
HOLD_ANCHORS: dict[str, str] = {
    "request": "received_at",
    "allegation": "allegation_on",
    "incident": "incident_on",
}
REDACTION_KINDS: frozenset[str] = frozenset(
    {"faces", "bystander-faces", "minors", "victims", "plates", "interior", "audio", "cut"}
)
RANGED_REDACTIONS: frozenset[str] = frozenset({"audio", "cut"})
RANGE_FACTS: frozenset[str] = frozenset({"sensitive_ranges", "requested_ranges"})
DAY_COUNTS: frozenset[str] = frozenset({"working", "calendar"})
DISCLAIMER_MARK = "not legal advice"

MAX_CONDITION_CHARS = 4000
MAX_CONDITION_DEPTH = 40
MAX_DAYS = 3660
# Pairs of equal-priority rules whose fact space is larger than this are not checked for
# overlap (see overlap.check_conflicts).
MAX_OVERLAP_CASES = 60_000

TimeRange: TypeAlias = tuple[float, float]
FactValue: TypeAlias = bool | int | str | frozenset[str] | None
Path: TypeAlias = tuple[str | int, ...]
