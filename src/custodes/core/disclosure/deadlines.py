"""Deadline arithmetic: working days, statutory clocks and the general deadline.

A request is due a number of working or calendar days after it was received; the
strictest statutory clock whose condition holds sets the date, else the general deadline
(extended when the custodian invoked the extension). See ``docs/disclosure.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from custodes.core.disclosure.conditions import Condition
from custodes.core.disclosure.facts import Facts
from custodes.core.disclosure.vocabulary import FactValue
from custodes.core.errors import InvalidInput


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


def add_days(d: date, n: int, count: str, holidays: frozenset[date]) -> date:
    if count == "working":
        return working_days_after(d, n, holidays)
    return d + timedelta(days=n)


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
                (add_days(facts.received_at, c.days, c.count, self.holidays), c.id, c)
                for c in firing
            )
            when, _, clock = dated[0]
            return when, {"basis": clock.id, "citation": clock.citation}
        due = add_days(facts.received_at, self.respond_days, self.respond_count, self.holidays)
        if facts.extension_invoked and self.extension_days:
            due = add_days(due, self.extension_days, self.extension_count, self.holidays)
            return due, {"basis": "extension", "citation": self.extension_citation}
        return due, {"basis": "general", "citation": self.citation}
