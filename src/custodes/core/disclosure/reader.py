"""Reading a policy pack: a parsed document (plain dicts, lists, scalars) to a
:class:`PolicyPack`.

Every key, type, range, id, condition and enum value is checked, and every problem
raises :class:`InvalidInput` naming the file and line. Equal-priority rules that
contradict each other are refused (:mod:`custodes.core.disclosure.overlap`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import date

from custodes.core.disclosure.conditions import Condition, ConditionError
from custodes.core.disclosure.deadlines import Clock, DeadlinePolicy
from custodes.core.disclosure.overlap import check_conflicts
from custodes.core.disclosure.pack import HoldSpec, Notice, PolicyPack, RedactionSpec, Rule
from custodes.core.disclosure.vocabulary import (
    DAY_COUNTS,
    DISCLAIMER_MARK,
    HOLD_ANCHORS,
    HOLD_EVENTS,
    MAX_DAYS,
    OUTCOMES,
    RANGE_FACTS,
    RANGED_REDACTIONS,
    REDACTION_KINDS,
    Path,
)
from custodes.core.errors import InvalidInput

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


def read_pack(
    doc: object, lines: Mapping[Path, int], sha256: str, *, source_name: str
) -> PolicyPack:
    """Validate a parsed pack document (plain dicts, lists and scalars).

    ``lines`` maps a path into the document (keys and list indexes) to its line in the
    file. Every problem raises :class:`InvalidInput` naming the file and line.
    """
    return _PackReader(lines, source_name).pack(doc, sha256)


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
        check_conflicts(pack)
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
