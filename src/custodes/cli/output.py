"""Printing: one JSON document with --json, rich tables and progress bars otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from custodes.core.jsontext import jsonable
from custodes.core.ports import NullProgress, ProgressSink

console = Console()
err_console = Console(stderr=True)


def emit_json(value: Any) -> None:
    """One JSON document on stdout; a use case's typed result is written with its field
    names (``core.jsontext.jsonable``)."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2, default=str) + "\n")


def plain(value: Any) -> Text:
    """A value as literal text: no rich markup (a requester named ``[link=...]`` stays
    as typed) and control characters (terminal escapes) shown as ``\\xNN``."""
    text = "" if value is None else str(value)
    return Text("".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    tbl = Table(title=title, show_lines=False)
    for col in columns:
        tbl.add_column(col)
    for row in rows:
        tbl.add_row(*[plain(v) for v in row])
    console.print(tbl)


def show_progress(quiet: bool) -> bool:
    return not quiet and err_console.is_terminal


class _AmountColumn(ProgressColumn):
    """``12/40`` for counted work, ``1.2/4.0 GB`` for bytes (a task's ``unit`` field)."""

    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else task.total
        if task.fields.get("unit") == "byte":
            done = decimal(int(task.completed))
            whole = "?" if task.total is None else decimal(int(task.total))
            return Text(f"{done}/{whole}")
        return Text(f"{int(task.completed)}/{total if total == '?' else int(total)}")


class _RichTask:
    def __init__(self, bar: Progress, task_id: Any) -> None:
        self._bar = bar
        self._id = task_id

    def advance(self, amount: float = 1) -> None:
        self._bar.advance(self._id, amount)

    def set_total(self, total: float | None) -> None:
        self._bar.update(self._id, total=total)


class RichProgress:
    """The one progress protocol (``core.ports.ProgressSink``) as bars on the terminal."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar

    def start(self, label: str, total: float | None = None, *, unit: str = "item") -> _RichTask:
        return _RichTask(self._bar, self._bar.add_task(label, total=total, unit=unit))


@contextmanager
def progress_sink(quiet: bool) -> Iterator[ProgressSink]:
    """Bars on stderr while the block runs, when stderr is a terminal and not --json."""
    if not show_progress(quiet):
        yield NullProgress()
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _AmountColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        yield RichProgress(bar)
