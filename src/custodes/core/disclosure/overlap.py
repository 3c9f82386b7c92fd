"""Overlap checks: two rules of equal priority with different outcomes must not both fire.

The check enumerates the facts two conditions read over their critical values and looks
for one assignment under which both hold (a witness, shown in the error).
"""

from __future__ import annotations

import itertools

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.core.disclosure.conditions import Condition, literals_of
from custodes.core.disclosure.facts import FACT_TYPES
from custodes.core.disclosure.pack import PolicyPack, Rule
from custodes.core.disclosure.vocabulary import MAX_OVERLAP_CASES, FactValue
from custodes.core.errors import InvalidInput

_BASE_OF_DERIVED = {
    "ia_investigation_open": "case_flags",
    "prosecution_pending": "case_status",
}


def check_conflicts(pack: PolicyPack) -> None:
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
                    f"{pack.source_name}:{second.line}: rule '{second.id}' "
                    f"({second.outcome}) and rule '{first.id}' at line {first.line} "
                    f"({first.outcome}) have equal priority {a.priority} and can both "
                    f"fire (for example when {witness}); give one a higher priority"
                )


def _overlap(a: Condition, b: Condition) -> str | None:
    """A description of facts under which both conditions hold, or None."""
    names = set(a.facts) | set(b.facts)
    base = {_BASE_OF_DERIVED.get(n, n) for n in names}
    literals: dict[str, set[object]] = {}
    for cond in (a, b):
        for fact, lit in literals_of(cond.node):
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
