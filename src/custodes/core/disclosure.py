"""Disclosure by written policy: policy packs and the decision engine.

A *policy pack* is a declarative file (YAML, parsed at the edge by
:mod:`custodes.storage.packs`) holding versioned rules, each with a citation, a condition
over the facts of a release request and an effect. :func:`decide` applies a pack to the
:class:`Facts` of one request and returns a :class:`Decision`: the outcome (``release``,
``partial``, ``hold`` or ``deny``), every rule that fired with the facts it read, the
redactions, the hold and its review date, the deadline and the hash of the pack.

The engine is pure and deterministic: no I/O, no clock (``Facts.today`` is an argument),
no randomness, no dependence on the order of rules in the file. The same facts and the
same pack (identified by its sha256) always give the same decision.

Conditions are written in a small expression language parsed here by a recursive-descent
parser (no ``eval``): comparisons, ``in``/``not in``, ``and``/``or``/``not``,
parentheses, literals and fact names. Every fact name, operator, literal type and enum
value is checked when the pack is loaded, and errors name the file and line. The grammar,
the conflict-resolution rules and the deadline arithmetic are documented in
``docs/disclosure.md``.

Packs are models for review by counsel, not legal advice; every pack must say so.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, TypeAlias

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.core.errors import InvalidInput

# --------------------------------------------------------------------------- vocabulary

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
# overlap (see PolicyPack._check_conflicts).
MAX_OVERLAP_CASES = 60_000

TimeRange: TypeAlias = tuple[float, float]
FactValue: TypeAlias = bool | int | str | frozenset[str] | None
Path: TypeAlias = tuple[str | int, ...]


# --------------------------------------------------------------------------- dates


def working_days_after(d: date, n: int, holidays: frozenset[date] = frozenset()) -> date:
    """The ``n``-th working day after ``d`` (Monday to Friday, not a holiday).

    ``d`` itself is not counted, whatever day it is: a request received on a Friday with
    ``n = 3`` is due on Wednesday. ``n = 0`` gives ``d``.
    """
    if n < 0:
        raise InvalidInput(f"working days must not be negative, got {n}")
    day = d
    left = n
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            left -= 1
    return day


def _add_days(d: date, n: int, count: str, holidays: frozenset[date]) -> date:
    if count == "working":
        return working_days_after(d, n, holidays)
    return d + timedelta(days=n)


def _normalize_ranges(ranges: Sequence[TimeRange]) -> tuple[TimeRange, ...]:
    """Sorted, with overlapping or touching ranges merged."""
    out: list[TimeRange] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


# --------------------------------------------------------------------------- facts


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
            "allegation_on": _iso(self.allegation_on),
            "incident_on": _iso(self.incident_on),
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


def _iso(d: date | None) -> str | None:
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


# --------------------------------------------------------------------------- conditions


class ConditionError(ValueError):
    """A condition does not parse or does not type-check (column is 1-based)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class _Lit:
    value: bool | int | str | None


@dataclass(frozen=True)
class _List:
    values: tuple[int | str, ...]


@dataclass(frozen=True)
class _Fact:
    name: str


@dataclass(frozen=True)
class _Not:
    operand: _Node


@dataclass(frozen=True)
class _BoolOp:
    op: Literal["and", "or"]
    operands: tuple[_Node, ...]


@dataclass(frozen=True)
class _Compare:
    op: str
    left: _Node
    right: _Node


_Node: TypeAlias = _Lit | _List | _Fact | _Not | _BoolOp | _Compare

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<num>-?[0-9]+)
  | (?P<str>"[^"\\\n]*"|'[^'\\\n]*')
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_COMPARE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_HINTS = {"=": "use '==' to compare", "&": "use 'and'", "|": "use 'or'", "!": "use 'not'"}


@dataclass(frozen=True)
class _Token:
    kind: str  # num, str, op, name, keyword, end
    text: str
    column: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            hint = _HINTS.get(ch, "")
            if ch in "\"'":
                hint = "unterminated string (no escapes or newlines inside strings)"
            extra = f": {hint}" if hint else ""
            raise ConditionError(f"unexpected character {ch!r}{extra}", pos + 1)
        kind = m.lastgroup or ""
        if kind != "space":
            value = m.group()
            if kind == "name" and value in _KEYWORDS:
                kind = "keyword"
            if kind == "num" and len(value.lstrip("-")) > 9:
                raise ConditionError(f"number {value} is too large", pos + 1)
            tokens.append(_Token(kind, value, pos + 1))
        pos = m.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent over::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | compare
    compare  := atom [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") atom]
    atom     := INT | STRING | "true" | "false" | "null" | NAME
              | "(" expr ")" | "[" [literal ("," literal)*] "]"
    """

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok.kind in ("op", "keyword") and tok.text == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> None:
        tok = self.peek()
        if not self.accept(text):
            raise ConditionError(f"expected '{text}', found {_describe(tok)}", tok.column)

    def parse(self) -> _Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ConditionError(f"unexpected {_describe(tok)}", tok.column)
        return node

    def _enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_CONDITION_DEPTH:
            raise ConditionError("condition is nested too deeply", tok.column)

    def expr(self) -> _Node:
        self._enter(self.peek())
        operands = [self.and_expr()]
        while self.accept("or"):
            operands.append(self.and_expr())
        self.depth -= 1
        return operands[0] if len(operands) == 1 else _BoolOp("or", tuple(operands))

    def and_expr(self) -> _Node:
        operands = [self.not_expr()]
        while self.accept("and"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else _BoolOp("and", tuple(operands))

    def not_expr(self) -> _Node:
        tok = self.peek()
        if self.accept("not"):
            self._enter(tok)
            node = _Not(self.not_expr())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> _Node:
        left = self.atom()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARE_OPS:
            self.take()
            return _Compare(tok.text, left, self.atom())
        if self.accept("in"):
            return _Compare("in", left, self.atom())
        if tok.kind == "keyword" and tok.text == "not":
            nxt = self.tokens[self.pos + 1]
            if nxt.kind == "keyword" and nxt.text == "in":
                self.pos += 2
                return _Compare("not in", left, self.atom())
        return left

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            return _Lit(int(tok.text))
        if tok.kind == "str":
            return _Lit(tok.text[1:-1])
        if tok.kind == "keyword" and tok.text in ("true", "false", "null"):
            return _Lit({"true": True, "false": False, "null": None}[tok.text])
        if tok.kind == "name":
            return _Fact(tok.text)
        if tok.kind == "op" and tok.text == "(":
            node = self.expr()
            self.expect(")")
            return node
        if tok.kind == "op" and tok.text == "[":
            values: list[int | str] = []
            if not self.accept("]"):
                while True:
                    item = self.take()
                    if item.kind == "num":
                        values.append(int(item.text))
                    elif item.kind == "str":
                        values.append(item.text[1:-1])
                    else:
                        raise ConditionError(
                            f"a list holds string or integer literals, found {_describe(item)}",
                            item.column,
                        )
                    if self.accept("]"):
                        break
                    self.expect(",")
            return _List(tuple(values))
        raise ConditionError(f"expected a value, found {_describe(tok)}", tok.column)


def _describe(tok: _Token) -> str:
    return "end of condition" if tok.kind == "end" else f"'{tok.text}'"


# static types: "bool", "int", "str", "set", "list", "null"
def _type_of(node: _Node) -> str:
    if isinstance(node, _Lit):
        if node.value is None:
            return "null"
        if isinstance(node.value, bool):
            return "bool"
        return "int" if isinstance(node.value, int) else "str"
    if isinstance(node, _List):
        return "list"
    if isinstance(node, _Fact):
        return FACT_TYPES[node.name].kind
    return "bool"


def _check_value(fact: str, value: object) -> None:
    ftype = FACT_TYPES[fact]
    if ftype.domain and isinstance(value, str) and value not in ftype.domain:
        close = difflib.get_close_matches(value, sorted(ftype.domain), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        names = ", ".join(sorted(ftype.domain))
        raise ConditionError(f"unknown value '{value}' for {fact}{hint}; values: {names}")


def _check(node: _Node) -> None:
    """Type-check a parsed condition; raises ConditionError."""
    if isinstance(node, _Fact):
        if node.name not in FACT_TYPES:
            close = difflib.get_close_matches(node.name, sorted(FACT_TYPES), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConditionError(f"unknown fact '{node.name}'{hint}")
        return
    if isinstance(node, _Lit | _List):
        return
    if isinstance(node, _Not):
        _check(node.operand)
        if _type_of(node.operand) != "bool":
            raise ConditionError(f"'not' needs a true/false operand, got {_type_of(node.operand)}")
        return
    if isinstance(node, _BoolOp):
        for operand in node.operands:
            _check(operand)
            if _type_of(operand) != "bool":
                raise ConditionError(
                    f"'{node.op}' needs true/false operands, got {_type_of(operand)}"
                )
        return
    _check(node.left)
    _check(node.right)
    lt, rt = _type_of(node.left), _type_of(node.right)
    left_fact = node.left.name if isinstance(node.left, _Fact) else None
    right_fact = node.right.name if isinstance(node.right, _Fact) else None
    if left_fact is None and right_fact is None:
        raise ConditionError(f"'{node.op}' compares two constants; name a fact")
    if node.op in ("in", "not in"):
        if rt == "set":
            if lt != "str" or right_fact is None:
                raise ConditionError(f"'{node.op} {right_fact}' needs a string on the left")
            if isinstance(node.left, _Lit):
                _check_value(right_fact, node.left.value)
            elif left_fact is not None:
                raise ConditionError(f"'{node.op} {right_fact}' needs a string literal on the left")
            return
        if rt == "list" and isinstance(node.right, _List) and left_fact is not None:
            want = FACT_TYPES[left_fact].kind
            if want not in ("str", "int"):
                raise ConditionError(
                    f"'{left_fact} {node.op} [...]' needs a string or integer fact"
                )
            for value in node.right.values:
                if (want == "str") != isinstance(value, str):
                    raise ConditionError(f"list for {left_fact} must hold {want} values")
                _check_value(left_fact, value)
            return
        raise ConditionError(
            f"'{node.op}' needs a set fact or a list literal on the right, got {rt}"
        )
    if "set" in (lt, rt) or "list" in (lt, rt):
        raise ConditionError(f"'{node.op}' cannot compare a set or a list; use 'in'")
    if node.op in ("<", "<=", ">", ">="):
        if lt != "int" or rt != "int":
            raise ConditionError(f"'{node.op}' compares integers, got {lt} and {rt}")
        return
    # == and !=
    for fact, other, other_t in ((left_fact, node.right, rt), (right_fact, node.left, lt)):
        if fact is None:
            continue
        ftype = FACT_TYPES[fact]
        if other_t == "null":
            if not ftype.nullable:
                raise ConditionError(f"{fact} is never null")
            return
        if other_t != ftype.kind:
            raise ConditionError(f"{fact} is {ftype.kind}, compared with {other_t}")
        if isinstance(other, _Lit):
            _check_value(fact, other.value)
        return


def _facts_of(node: _Node) -> Iterator[str]:
    if isinstance(node, _Fact):
        yield node.name
    elif isinstance(node, _Not):
        yield from _facts_of(node.operand)
    elif isinstance(node, _BoolOp):
        for operand in node.operands:
            yield from _facts_of(operand)
    elif isinstance(node, _Compare):
        yield from _facts_of(node.left)
        yield from _facts_of(node.right)


def _literals_of(node: _Node) -> Iterator[tuple[str, object]]:
    """(fact, literal) pairs the condition compares, for the overlap check."""
    if isinstance(node, _Not):
        yield from _literals_of(node.operand)
    elif isinstance(node, _BoolOp):
        for operand in node.operands:
            yield from _literals_of(operand)
    elif isinstance(node, _Compare):
        pairs = ((node.left, node.right), (node.right, node.left))
        for a, b in pairs:
            if isinstance(a, _Fact) and isinstance(b, _Lit):
                yield a.name, b.value
            elif isinstance(a, _Fact) and isinstance(b, _List):
                for value in b.values:
                    yield a.name, value
        if isinstance(node.right, _Fact) and isinstance(node.left, _Lit):
            yield node.right.name, node.left.value


def _value(node: _Node, env: Mapping[str, FactValue]) -> FactValue | tuple[int | str, ...]:
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _List):
        return node.values
    if isinstance(node, _Fact):
        return env[node.name]
    return _truth(node, env)


def _truth(node: _Node, env: Mapping[str, FactValue]) -> bool:
    """Evaluate a type-checked condition. Never raises for a valid environment.

    An ordering comparison with a null operand is false.
    """
    if isinstance(node, _Not):
        return not _truth(node.operand, env)
    if isinstance(node, _BoolOp):
        if node.op == "and":
            return all(_truth(o, env) for o in node.operands)
        return any(_truth(o, env) for o in node.operands)
    if isinstance(node, _Compare):
        left, right = _value(node.left, env), _value(node.right, env)
        op = node.op
        if op in ("in", "not in"):
            inside = isinstance(right, frozenset | tuple) and left in right
            return inside if op == "in" else not inside
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if not isinstance(left, int) or not isinstance(right, int):
            return False
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        return left >= right
    value = _value(node, env)
    return value is True


@dataclass(frozen=True)
class Condition:
    """A parsed, type-checked condition and the facts it reads."""

    source: str
    node: _Node = field(repr=False, compare=False)
    facts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Condition:
        if len(text) > MAX_CONDITION_CHARS:
            raise ConditionError(f"condition is longer than {MAX_CONDITION_CHARS} characters")
        node = _Parser(text).parse()
        _check(node)
        if _type_of(node) != "bool":
            raise ConditionError(f"a condition must be true or false, not a {_type_of(node)}")
        return cls(text, node, tuple(sorted(set(_facts_of(node)))))

    def holds(self, env: Mapping[str, FactValue]) -> bool:
        return _truth(self.node, env)


# --------------------------------------------------------------------------- pack model


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
class Clock:
    """A statutory clock: when ``when`` holds, the request is due ``days`` after receipt."""

    id: str
    citation: str
    when: Condition
    days: int
    count: str
    line: int = 0


@dataclass(frozen=True)
class DeadlinePolicy:
    respond_days: int
    respond_count: str
    citation: str
    extension_days: int = 0
    extension_count: str = "working"
    extension_citation: str = ""
    holidays: frozenset[date] = frozenset()
    clocks: tuple[Clock, ...] = ()

    def due(self, facts: Facts, env: Mapping[str, FactValue]) -> tuple[date, dict[str, str]]:
        """The due date and what set it (the strictest statutory clock, else the general
        deadline, extended if the custodian invoked the extension)."""
        firing = [c for c in self.clocks if c.when.holds(env)]
        if firing:
            dated = sorted(
                (_add_days(facts.received_at, c.days, c.count, self.holidays), c.id, c)
                for c in firing
            )
            when, _, clock = dated[0]
            return when, {"basis": clock.id, "citation": clock.citation}
        due = _add_days(facts.received_at, self.respond_days, self.respond_count, self.holidays)
        if facts.extension_invoked and self.extension_days:
            due = _add_days(due, self.extension_days, self.extension_count, self.holidays)
            return due, {"basis": "extension", "citation": self.extension_citation}
        return due, {"basis": "general", "citation": self.citation}


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
        return _PackReader(lines, source_name).pack(doc, sha256)

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


# --------------------------------------------------------------------------- reading

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
_PACK_KEYS = {
    "custodes_pack",
    "name",
    "version",
    "jurisdiction",
    "effective_from",
    "expires",
    "disclaimer",
    "review_every_days",
    "deadline",
    "notices",
    "rules",
    "default",
}
_REQUIRED_PACK_KEYS = _PACK_KEYS - {"review_every_days", "notices"}
_RULE_KEYS = {"id", "priority", "citation", "when", "outcome", "hold", "redact", "reason", "note"}
_DEFAULT_KEYS = {"outcome", "citation", "hold", "redact", "reason", "note"}
_HOLD_KEYS = {"event", "days_after", "days", "review_every_days"}
_DEADLINE_KEYS = {"respond_within", "extension", "holidays", "clocks"}
_SPAN_KEYS = {"days", "count", "citation"}
_CLOCK_KEYS = {"id", "citation", "when", "days", "count", "note"}
_NOTICE_KEYS = {"citation", "text", "on"}


class _PackReader:
    def __init__(self, lines: Mapping[Path, int], source: str) -> None:
        self.lines = lines
        self.source = source

    # helpers -------------------------------------------------------------------------

    def line(self, path: Path) -> int | None:
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def fail(self, path: Path, message: str, context: str = "") -> InvalidInput:
        line = self.line(path)
        where = f"{self.source}:{line}" if line else self.source
        prefix = f"{context}: " if context else ""
        return InvalidInput(f"{where}: {prefix}{message}")

    def mapping(
        self,
        value: object,
        path: Path,
        allowed: set[str],
        required: set[str],
        what: str,
        ctx: str = "",
    ) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.fail(path, f"{what} must be a mapping, got {_kind(value)}", ctx)
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.fail((*path, key), f"unknown key '{key}' in {what}{hint}", ctx)
        for key in sorted(required):
            if key not in value:
                raise self.fail(path, f"{what} is missing '{key}'", ctx)
        return value

    def text(self, value: object, path: Path, what: str, ctx: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"{what} must be a non-empty string, got {_kind(value)}", ctx)
        return " ".join(value.split())

    def integer(self, value: object, path: Path, what: str, lo: int, hi: int, ctx: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"{what} must be an integer, got {_kind(value)}", ctx)
        if not lo <= value <= hi:
            raise self.fail(path, f"{what} must be between {lo} and {hi}, got {value}", ctx)
        return value

    def day(self, value: object, path: Path, what: str, ctx: str = "") -> date:
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        elif isinstance(value, date) and type(value) is date:
            return value
        raise self.fail(path, f"{what} must be a date (YYYY-MM-DD), got {_kind(value)}", ctx)

    def choice(
        self, value: object, path: Path, what: str, allowed: frozenset[str], ctx: str = ""
    ) -> str:
        if not isinstance(value, str) or value not in allowed:
            names = ", ".join(sorted(allowed))
            raise self.fail(path, f"{what} must be one of {names}, got {value!r}", ctx)
        return value

    def condition(self, value: object, path: Path, ctx: str) -> Condition:
        if isinstance(value, bool):
            raise self.fail(path, "'when' must be a quoted condition, got a bare true/false", ctx)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"'when' must be a condition string, got {_kind(value)}", ctx)
        try:
            return Condition.parse(value.strip())
        except ConditionError as exc:
            col = f" (column {exc.column})" if exc.column else ""
            raise self.fail(path, f"{exc}{col}", ctx) from None

    # sections ------------------------------------------------------------------------

    def pack(self, doc: object, sha256: str) -> PolicyPack:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise InvalidInput(f"{self.source}: bad pack hash {sha256!r}")
        top = self.mapping(doc, (), _PACK_KEYS, _REQUIRED_PACK_KEYS, "the pack")
        fmt = top["custodes_pack"]
        if fmt != 1 or isinstance(fmt, bool):
            raise self.fail(("custodes_pack",), f"unsupported pack format {fmt!r} (expected 1)")
        name = self.text(top["name"], ("name",), "name")
        version = top["version"]
        if not isinstance(version, str):
            raise self.fail(("version",), f"version must be a quoted string, got {_kind(version)}")
        version = self.text(version, ("version",), "version")
        jurisdiction = self.text(top["jurisdiction"], ("jurisdiction",), "jurisdiction")
        effective = self.day(top["effective_from"], ("effective_from",), "effective_from")
        expires = self.day(top["expires"], ("expires",), "expires")
        if expires <= effective:
            raise self.fail(("expires",), f"expires ({expires}) is not after effective_from")
        disclaimer = self.text(top["disclaimer"], ("disclaimer",), "disclaimer")
        if DISCLAIMER_MARK not in disclaimer.lower():
            raise self.fail(
                ("disclaimer",),
                f"the disclaimer must say the pack is a model for review by counsel, "
                f"'{DISCLAIMER_MARK}'",
            )
        review = 30
        if "review_every_days" in top:
            review = self.integer(
                top["review_every_days"], ("review_every_days",), "review_every_days", 1, 365
            )
        deadline = self.deadline(top["deadline"])
        notices = self.notices(top.get("notices", []))
        rules = self.rules(top["rules"])
        default = self.default(top["default"])
        pack = PolicyPack(
            name=name,
            version=version,
            jurisdiction=jurisdiction,
            effective_from=effective,
            expires=expires,
            disclaimer=disclaimer,
            sha256=sha256,
            source_name=self.source,
            rules=rules,
            default=default,
            deadline=deadline,
            notices=notices,
            review_every_days=review,
        )
        self.check_conflicts(pack)
        return pack

    def span(self, value: object, path: Path, what: str) -> tuple[int, str, str]:
        m = self.mapping(value, path, _SPAN_KEYS, {"days", "count", "citation"}, what)
        days = self.integer(m["days"], (*path, "days"), f"{what} days", 0, MAX_DAYS)
        count = self.choice(m["count"], (*path, "count"), f"{what} count", DAY_COUNTS)
        citation = self.text(m["citation"], (*path, "citation"), f"{what} citation")
        return days, count, citation

    def deadline(self, value: object) -> DeadlinePolicy:
        path: Path = ("deadline",)
        m = self.mapping(value, path, _DEADLINE_KEYS, {"respond_within"}, "deadline")
        days, count, citation = self.span(
            m["respond_within"], (*path, "respond_within"), "respond_within"
        )
        ext_days, ext_count, ext_cite = 0, "working", ""
        if "extension" in m:
            ext_days, ext_count, ext_cite = self.span(
                m["extension"], (*path, "extension"), "extension"
            )
        holidays: set[date] = set()
        raw_holidays = m.get("holidays", [])
        if not isinstance(raw_holidays, list):
            raise self.fail((*path, "holidays"), "holidays must be a list of dates")
        for i, h in enumerate(raw_holidays):
            holidays.add(self.day(h, (*path, "holidays", i), "a holiday"))
        clocks: list[Clock] = []
        raw_clocks = m.get("clocks", [])
        if not isinstance(raw_clocks, list):
            raise self.fail((*path, "clocks"), "clocks must be a list")
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_clocks):
            cpath: Path = (*path, "clocks", i)
            c = self.mapping(raw, cpath, _CLOCK_KEYS, _CLOCK_KEYS - {"note"}, "a clock")
            cid = self.rule_id(c["id"], (*cpath, "id"))
            ctx = f"clock '{cid}'"
            if cid in seen:
                raise self.fail(
                    (*cpath, "id"), f"duplicate clock id (first at line {seen[cid]})", ctx
                )
            seen[cid] = self.line(cpath) or 0
            clocks.append(
                Clock(
                    id=cid,
                    citation=self.text(c["citation"], (*cpath, "citation"), "citation", ctx),
                    when=self.condition(c["when"], (*cpath, "when"), ctx),
                    days=self.integer(c["days"], (*cpath, "days"), "days", 1, MAX_DAYS, ctx),
                    count=self.choice(c["count"], (*cpath, "count"), "count", DAY_COUNTS, ctx),
                    line=self.line(cpath) or 0,
                )
            )
        return DeadlinePolicy(
            respond_days=days,
            respond_count=count,
            citation=citation,
            extension_days=ext_days,
            extension_count=ext_count,
            extension_citation=ext_cite,
            holidays=frozenset(holidays),
            clocks=tuple(clocks),
        )

    def notices(self, value: object) -> tuple[Notice, ...]:
        if not isinstance(value, list):
            raise self.fail(("notices",), "notices must be a list")
        out = []
        for i, raw in enumerate(value):
            path: Path = ("notices", i)
            m = self.mapping(raw, path, _NOTICE_KEYS, _NOTICE_KEYS, "a notice")
            on = m["on"]
            if not isinstance(on, list) or not on:
                raise self.fail((*path, "on"), "'on' must be a list of outcomes")
            outcomes = frozenset(
                self.choice(o, (*path, "on", j), "an outcome", frozenset(OUTCOMES))
                for j, o in enumerate(on)
            )
            out.append(
                Notice(
                    citation=self.text(m["citation"], (*path, "citation"), "citation"),
                    text=self.text(m["text"], (*path, "text"), "text"),
                    on=outcomes,
                )
            )
        return tuple(out)

    def rule_id(self, value: object, path: Path) -> str:
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise self.fail(
                path, f"an id is lower-case letters, digits, '-' and '.', got {value!r}"
            )
        return value

    def effect(
        self, m: Mapping[str, object], path: Path, ctx: str
    ) -> tuple[str | None, HoldSpec | None, tuple[RedactionSpec, ...]]:
        outcome: str | None = None
        if "outcome" in m:
            outcome = self.choice(
                m["outcome"], (*path, "outcome"), "outcome", frozenset(OUTCOMES), ctx
            )
        hold: HoldSpec | None = None
        if outcome == "hold":
            if "hold" not in m:
                raise self.fail(path, "outcome 'hold' needs a 'hold' mapping", ctx)
            hold = self.hold(m["hold"], (*path, "hold"), ctx)
        elif "hold" in m:
            raise self.fail((*path, "hold"), "'hold' is only allowed with outcome 'hold'", ctx)
        redactions = self.redactions(m.get("redact", []), (*path, "redact"), ctx)
        if outcome is None and not redactions:
            raise self.fail(path, "a rule needs an 'outcome', a 'redact' list, or both", ctx)
        return outcome, hold, redactions

    def hold(self, value: object, path: Path, ctx: str) -> HoldSpec:
        m = self.mapping(value, path, _HOLD_KEYS, set(), "hold", ctx)
        event = None
        if "event" in m:
            event = self.choice(m["event"], (*path, "event"), "hold event", HOLD_EVENTS, ctx)
        anchor = days = None
        if ("days_after" in m) != ("days" in m):
            raise self.fail(path, "'days_after' and 'days' go together", ctx)
        if "days_after" in m:
            anchor = self.choice(
                m["days_after"],
                (*path, "days_after"),
                "days_after",
                frozenset(HOLD_ANCHORS),
                ctx,
            )
            days = self.integer(m["days"], (*path, "days"), "days", 1, MAX_DAYS, ctx)
        if event is None and anchor is None:
            raise self.fail(path, "a hold needs an 'event', or 'days_after' and 'days'", ctx)
        review = None
        if "review_every_days" in m:
            review = self.integer(
                m["review_every_days"],
                (*path, "review_every_days"),
                "review_every_days",
                1,
                365,
                ctx,
            )
        return HoldSpec(event=event, anchor=anchor, days=days, review_every_days=review)

    def redactions(self, value: object, path: Path, ctx: str) -> tuple[RedactionSpec, ...]:
        if not isinstance(value, list):
            raise self.fail(path, "'redact' must be a list", ctx)
        out: list[RedactionSpec] = []
        for i, item in enumerate(value):
            ipath: Path = (*path, i)
            if isinstance(item, str):
                kind = self.choice(item, ipath, "a redaction", REDACTION_KINDS, ctx)
                if kind == "cut":
                    raise self.fail(ipath, "'cut' needs ranges: {kind: cut, ranges: ...}", ctx)
                out.append(RedactionSpec(kind, "all" if kind == "audio" else None))
                continue
            m = self.mapping(
                item, ipath, {"kind", "ranges"}, {"kind", "ranges"}, "a redaction", ctx
            )
            kind = self.choice(m["kind"], (*ipath, "kind"), "redaction kind", REDACTION_KINDS, ctx)
            if kind not in RANGED_REDACTIONS:
                raise self.fail((*ipath, "ranges"), f"'{kind}' takes no ranges", ctx)
            allowed = RANGE_FACTS | ({"all"} if kind == "audio" else set())
            ranges = self.choice(m["ranges"], (*ipath, "ranges"), "ranges", frozenset(allowed), ctx)
            out.append(RedactionSpec(kind, ranges))
        return tuple(out)

    def rules(self, value: object) -> tuple[Rule, ...]:
        if not isinstance(value, list):
            raise self.fail(("rules",), f"rules must be a list, got {_kind(value)}")
        seen: dict[str, int] = {}
        out: list[Rule] = []
        for i, raw in enumerate(value):
            path: Path = ("rules", i)
            rid_raw = raw.get("id") if isinstance(raw, dict) else None
            ctx = f"rule '{rid_raw}'" if isinstance(rid_raw, str) else f"rule #{i + 1}"
            m = self.mapping(
                raw,
                path,
                _RULE_KEYS,
                {"id", "priority", "citation", "when", "reason"},
                "a rule",
                ctx,
            )
            rid = self.rule_id(m["id"], (*path, "id"))
            line = self.line(path) or 0
            if rid in seen or rid == "default":
                first = f" (first at line {seen[rid]})" if rid in seen else ""
                raise self.fail((*path, "id"), f"duplicate rule id{first}", ctx)
            seen[rid] = line
            outcome, hold, redactions = self.effect(m, path, ctx)
            out.append(
                Rule(
                    id=rid,
                    priority=self.integer(
                        m["priority"], (*path, "priority"), "priority", 0, 1000, ctx
                    ),
                    citation=self.text(m["citation"], (*path, "citation"), "citation", ctx),
                    when=self.condition(m["when"], (*path, "when"), ctx),
                    reason=self.text(m["reason"], (*path, "reason"), "reason", ctx),
                    outcome=outcome,
                    hold=hold,
                    redactions=redactions,
                    line=line,
                )
            )
        return tuple(out)

    def default(self, value: object) -> Rule:
        path: Path = ("default",)
        ctx = "default"
        m = self.mapping(
            value, path, _DEFAULT_KEYS, {"outcome", "citation", "reason"}, "the default", ctx
        )
        outcome, hold, redactions = self.effect(m, path, ctx)
        return Rule(
            id="default",
            priority=-1,
            citation=self.text(m["citation"], (*path, "citation"), "citation", ctx),
            when=Condition.parse("true"),
            reason=self.text(m["reason"], (*path, "reason"), "reason", ctx),
            outcome=outcome,
            hold=hold,
            redactions=redactions,
            line=self.line(path) or 0,
        )

    def check_conflicts(self, pack: PolicyPack) -> None:
        """Refuse two rules of equal priority with different outcomes that can both fire.

        The check enumerates the facts the two conditions read over their critical values
        (every enum value, both booleans, each set member they name in and out, each
        integer literal and its neighbours, null). Pairs whose space exceeds
        MAX_OVERLAP_CASES are not checked; equal-priority ties then resolve by severity.
        """
        by_priority: dict[int, list[Rule]] = {}
        for rule in pack.rules:
            if rule.outcome is not None:
                by_priority.setdefault(rule.priority, []).append(rule)
        for group in by_priority.values():
            for a, b in itertools.combinations(sorted(group, key=lambda r: r.id), 2):
                if a.outcome == b.outcome:
                    continue
                witness = _overlap(a.when, b.when)
                if witness is not None:
                    first, second = sorted((a, b), key=lambda r: r.line)
                    raise InvalidInput(
                        f"{self.source}:{second.line}: rule '{second.id}' "
                        f"({second.outcome}) and rule '{first.id}' at line {first.line} "
                        f"({first.outcome}) have equal priority {a.priority} and can both "
                        f"fire (for example when {witness}); give one a higher priority"
                    )


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


# --------------------------------------------------------------------------- overlap check

_BASE_OF_DERIVED = {
    "ia_investigation_open": "case_flags",
    "prosecution_pending": "case_status",
}


def _overlap(a: Condition, b: Condition) -> str | None:
    """A description of facts under which both conditions hold, or None."""
    names = set(a.facts) | set(b.facts)
    base = {_BASE_OF_DERIVED.get(n, n) for n in names}
    literals: dict[str, set[object]] = {}
    for cond in (a, b):
        for fact, lit in _literals_of(cond.node):
            literals.setdefault(_BASE_OF_DERIVED.get(fact, fact), set()).add(lit)
    if "ia_investigation_open" in names:
        literals.setdefault("case_flags", set()).add(CaseFlag.IA_INVESTIGATION.value)
    axes: list[tuple[str, list[FactValue]]] = []
    for name in sorted(base):
        ftype = FACT_TYPES[name]
        values: list[FactValue]
        if ftype.kind == "bool":
            values = [False, True]
        elif ftype.kind == "str":
            values = [v for v in sorted(ftype.domain)]
        elif ftype.kind == "set":
            members = sorted(str(v) for v in literals.get(name, set()) if isinstance(v, str))
            values = [
                frozenset(c)
                for k in range(len(members) + 1)
                for c in itertools.combinations(members, k)
            ]
        else:
            points = {0}
            for v in literals.get(name, set()):
                if isinstance(v, int) and not isinstance(v, bool):
                    points |= {v - 1, v, v + 1}
            values = [p for p in sorted(points) if p >= 0]
            if ftype.nullable:
                values = [None, *values]
        axes.append((name, values))
    total = 1
    for _, values in axes:
        total *= len(values)
    if total > MAX_OVERLAP_CASES:
        return None
    keys = [name for name, _ in axes]
    for combo in itertools.product(*(values for _, values in axes)):
        env: dict[str, FactValue] = dict(zip(keys, combo, strict=True))
        if "case_flags" in env:
            flags = env["case_flags"]
            env["ia_investigation_open"] = (
                isinstance(flags, frozenset) and CaseFlag.IA_INVESTIGATION.value in flags
            )
        if "case_status" in env:
            env["prosecution_pending"] = env["case_status"] == CaseStatus.PENDING_PROSECUTION.value
        if a.holds(env) and b.holds(env):
            shown = ", ".join(f"{n}={_show(env[n])}" for n in sorted(names))
            return shown
    return None


def _show(value: FactValue) -> str:
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(value)) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- decisions


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
    reasons: tuple[str, ...]
    disclaimer: str

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
            "review_at": _iso(self.review_at),
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

    reasons: list[str] = []
    for rule in fired:
        if rule.id in decisive_ids and rule.reason not in reasons:
            reasons.append(rule.reason)
    if outcome in ("release", "partial"):
        for rule in fired:
            if rule.id not in decisive_ids and rule.redactions and rule.reason not in reasons:
                reasons.append(rule.reason)
    if ranges_out is not None and outcome == "partial":
        shown = ", ".join(f"{s:g}-{e:g} s" for s, e in ranges_out)
        reasons.append(f"Only the portion asked for is released ({shown}).")
    if outcome == "hold" and review_at is not None:
        parts = []
        if hold_event:
            parts.append(f"until {hold_event.replace('-', ' ')}")
        if hold_date:
            parts.append(f"{'at the latest ' if hold_event else 'until '}{hold_date.isoformat()}")
        held = " ".join(["The release is held", ", ".join(parts)]).rstrip()
        reasons.append(f"{held}; it will be reviewed on {review_at.isoformat()}.")
    for notice in pack.notices:
        if outcome in notice.on:
            reasons.append(f"{notice.text} ({notice.citation})")

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
        reasons=tuple(reasons),
        disclaimer=pack.disclaimer,
    )
