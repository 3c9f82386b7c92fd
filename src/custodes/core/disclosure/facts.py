"""The facts of one release request, and their static types in the condition language.

:class:`Facts` holds what a pack may read about a request (dates, not day counts; the
counts are derived). ``FACT_TYPES`` declares each name the condition language knows,
with its kind, whether it may be null, and the values an enumerated fact may take.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.core.disclosure.vocabulary import (
    EVIDENCE_FLAGS,
    REQUESTER_KINDS,
    FactValue,
    TimeRange,
)
from custodes.core.errors import InvalidInput


@dataclass(frozen=True)
class Facts:
    """Everything a pack may read about one release request, as of ``today``.

    Inputs are dates, not day counts, so the counts can never disagree with them. The
    condition language sees these facts (see ``FACT_TYPES``), some derived:

    * ``days_since_request`` = ``today - received_at`` in calendar days;
    * ``days_since_allegation`` / ``days_since_incident``: the same from
      ``allegation_on`` / ``incident_on``, or null when that date is unknown;
    * ``ia_investigation_open``: the case carries the ``ia-investigation`` flag;
    * ``prosecution_pending``: the case status is ``pending-prosecution``;
    * ``has_requested_ranges`` / ``has_sensitive_ranges``: the range lists are not empty.

    Findings that a person makes and the engine cannot (``interference_found``: release
    would substantially interfere with an active investigation; ``prosecutor_statement``:
    the prosecuting attorney explained that in writing; ``redaction_insufficient``:
    blurring cannot protect a privacy interest; ``sealed_by_court``: a court order
    forbids inspection) are explicit booleans, recorded with the decision.
    """

    case_status: CaseStatus
    requester_kind: str
    received_at: date
    today: date
    case_flags: frozenset[CaseFlag] = frozenset()
    evidence_flags: frozenset[str] = frozenset()
    misconduct_complaint: bool = False
    allegation_on: date | None = None
    incident_on: date | None = None
    critical_incident: bool = False
    interference_found: bool = False
    prosecutor_statement: bool = False
    redaction_insufficient: bool = False
    sealed_by_court: bool = False
    extension_invoked: bool = False
    evidence_ids: tuple[str, ...] = ()
    requested_ranges: tuple[TimeRange, ...] = ()
    sensitive_ranges: tuple[TimeRange, ...] = ()

    def __post_init__(self) -> None:
        try:
            status = CaseStatus(self.case_status)
        except ValueError:
            names = ", ".join(s.value for s in CaseStatus)
            raise InvalidInput(
                f"unknown case status '{self.case_status}' (statuses: {names})"
            ) from None
        object.__setattr__(self, "case_status", status)
        flags: set[CaseFlag] = set()
        for flag in self.case_flags:
            try:
                flags.add(CaseFlag(flag))
            except ValueError:
                names = ", ".join(f.value for f in CaseFlag)
                raise InvalidInput(f"unknown case flag '{flag}' (flags: {names})") from None
        object.__setattr__(self, "case_flags", frozenset(flags))
        if self.requester_kind not in REQUESTER_KINDS:
            names = ", ".join(sorted(REQUESTER_KINDS))
            raise InvalidInput(f"unknown requester kind '{self.requester_kind}' (kinds: {names})")
        unknown = set(self.evidence_flags) - EVIDENCE_FLAGS
        if unknown:
            names = ", ".join(sorted(EVIDENCE_FLAGS))
            raise InvalidInput(f"unknown evidence flag '{sorted(unknown)[0]}' (flags: {names})")
        object.__setattr__(self, "evidence_flags", frozenset(self.evidence_flags))
        for name in ("received_at", "today", "allegation_on", "incident_on"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise InvalidInput(f"{name} must be a date, got {value!r}")
        if self.today < self.received_at:
            raise InvalidInput(
                f"today ({self.today}) is before the request was received ({self.received_at})"
            )
        for name in ("requested_ranges", "sensitive_ranges"):
            ranges = tuple((float(s), float(e)) for s, e in getattr(self, name))
            for start, end in ranges:
                if not (0 <= start < end) or end == float("inf"):
                    raise InvalidInput(f"{name}: bad time range {start}-{end} (need 0 <= S < E)")
            object.__setattr__(self, name, ranges)
        object.__setattr__(self, "evidence_ids", tuple(self.evidence_ids))

    # derived facts -----------------------------------------------------------------

    @property
    def days_since_request(self) -> int:
        return (self.today - self.received_at).days

    @property
    def days_since_allegation(self) -> int | None:
        return None if self.allegation_on is None else (self.today - self.allegation_on).days

    @property
    def days_since_incident(self) -> int | None:
        return None if self.incident_on is None else (self.today - self.incident_on).days

    @property
    def ia_investigation_open(self) -> bool:
        return CaseFlag.IA_INVESTIGATION in self.case_flags

    @property
    def prosecution_pending(self) -> bool:
        return self.case_status is CaseStatus.PENDING_PROSECUTION

    def environment(self) -> dict[str, FactValue]:
        """The values the condition language sees, by fact name."""
        return {
            "case_status": self.case_status.value,
            "case_flags": frozenset(f.value for f in self.case_flags),
            "requester_kind": self.requester_kind,
            "evidence_flags": self.evidence_flags,
            "misconduct_complaint": self.misconduct_complaint,
            "critical_incident": self.critical_incident,
            "interference_found": self.interference_found,
            "prosecutor_statement": self.prosecutor_statement,
            "redaction_insufficient": self.redaction_insufficient,
            "sealed_by_court": self.sealed_by_court,
            "extension_invoked": self.extension_invoked,
            "days_since_request": self.days_since_request,
            "days_since_allegation": self.days_since_allegation,
            "days_since_incident": self.days_since_incident,
            "ia_investigation_open": self.ia_investigation_open,
            "prosecution_pending": self.prosecution_pending,
            "has_requested_ranges": bool(self.requested_ranges),
            "has_sensitive_ranges": bool(self.sensitive_ranges),
        }

    def to_dict(self) -> dict[str, object]:
        """A JSON-able snapshot of the inputs, for the decision record."""
        return {
            "case_status": self.case_status.value,
            "case_flags": sorted(f.value for f in self.case_flags),
            "requester_kind": self.requester_kind,
            "received_at": self.received_at.isoformat(),
            "today": self.today.isoformat(),
            "evidence_flags": sorted(self.evidence_flags),
            "misconduct_complaint": self.misconduct_complaint,
            "allegation_on": isoformat_or_none(self.allegation_on),
            "incident_on": isoformat_or_none(self.incident_on),
            "critical_incident": self.critical_incident,
            "interference_found": self.interference_found,
            "prosecutor_statement": self.prosecutor_statement,
            "redaction_insufficient": self.redaction_insufficient,
            "sealed_by_court": self.sealed_by_court,
            "extension_invoked": self.extension_invoked,
            "evidence_ids": list(self.evidence_ids),
            "requested_ranges": [list(r) for r in self.requested_ranges],
            "sensitive_ranges": [list(r) for r in self.sensitive_ranges],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Facts:
        """Inverse of :meth:`to_dict` (for re-evaluating a recorded request)."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"unknown fact '{sorted(unknown)[0]}'")
        kwargs: dict[str, object] = dict(data)
        try:
            for name in ("received_at", "today", "allegation_on", "incident_on"):
                value = kwargs.get(name)
                if isinstance(value, str):
                    kwargs[name] = date.fromisoformat(value)
            for name in ("case_flags", "evidence_flags"):
                if name in kwargs:
                    kwargs[name] = frozenset(_strings(kwargs[name], name))
            for name in ("requested_ranges", "sensitive_ranges"):
                if name in kwargs:
                    kwargs[name] = tuple(_pair(r, name) for r in _items(kwargs[name], name))
            if "evidence_ids" in kwargs:
                kwargs["evidence_ids"] = tuple(_strings(kwargs["evidence_ids"], "evidence_ids"))
            return cls(**kwargs)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"bad facts: {exc}") from exc


def isoformat_or_none(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _items(value: object, name: str) -> list[object]:
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{name} must be a list")
    return list(value)


def _strings(value: object, name: str) -> list[str]:
    items = _items(value, name)
    if not all(isinstance(v, str) for v in items):
        raise InvalidInput(f"{name} must be a list of strings")
    return [str(v) for v in items]


def _pair(value: object, name: str) -> TimeRange:
    items = _items(value, name)
    if len(items) != 2 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in items
    ):
        raise InvalidInput(f"{name}: a range is [start, end] in seconds")
    start, end = items
    assert isinstance(start, int | float) and isinstance(end, int | float)
    return float(start), float(end)


# --------------------------------------------------------------------------- fact types


@dataclass(frozen=True)
class FactType:
    """The static type of a fact in the condition language."""

    kind: Literal["bool", "int", "str", "set"]
    nullable: bool = False
    domain: frozenset[str] = frozenset()  # allowed values of a str fact or a set's members
    doc: str = ""


FACT_TYPES: dict[str, FactType] = {
    "case_status": FactType(
        "str", domain=frozenset(s.value for s in CaseStatus), doc="status of the case"
    ),
    "case_flags": FactType("set", domain=frozenset(f.value for f in CaseFlag), doc="flags"),
    "requester_kind": FactType("str", domain=REQUESTER_KINDS, doc="who asks"),
    "evidence_flags": FactType("set", domain=EVIDENCE_FLAGS, doc="what the recording shows"),
    "misconduct_complaint": FactType("bool", doc="a complaint of officer misconduct exists"),
    "critical_incident": FactType(
        "bool",
        doc="firearm discharged at a person, or force resulting in death or great bodily injury",
    ),
    "interference_found": FactType(
        "bool", doc="release would substantially interfere with an active investigation (a finding)"
    ),
    "prosecutor_statement": FactType(
        "bool", doc="the prosecuting attorney explained the interference in writing"
    ),
    "redaction_insufficient": FactType(
        "bool", doc="blurring cannot protect the privacy interest (a finding)"
    ),
    "sealed_by_court": FactType("bool", doc="a court order forbids inspection"),
    "extension_invoked": FactType("bool", doc="the custodian invoked the extension"),
    "days_since_request": FactType("int", doc="calendar days since the request"),
    "days_since_allegation": FactType("int", nullable=True, doc="days since the allegation"),
    "days_since_incident": FactType("int", nullable=True, doc="days since the incident"),
    "ia_investigation_open": FactType("bool", doc="case flagged ia-investigation"),
    "prosecution_pending": FactType("bool", doc="case status is pending-prosecution"),
    "has_requested_ranges": FactType("bool", doc="the request names time ranges"),
    "has_sensitive_ranges": FactType("bool", doc="sensitive time ranges are marked"),
}
