"""Printing: one JSON document with --json, rich tables and progress bars otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.cells import cell_len
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


def _longest_word(texts: Sequence[Text]) -> int:
    return max((cell_len(word) for t in texts for word in t.plain.split()), default=1)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows under their column names. A cell may wrap between words, never inside one:
    each column is at least as wide as its longest word, so an identifier, a hash or a
    time is never cut or folded (on a terminal too narrow for the table, the terminal
    wraps its lines instead)."""
    cells = [[plain(v) for v in row] for row in rows]
    tbl = Table(title=title, show_lines=False)
    for i, col in enumerate(columns):
        words = [Text(col), *(row[i] for row in cells if i < len(row))]
        tbl.add_column(col, min_width=_longest_word(words), overflow="fold")
    for row in cells:
        tbl.add_row(*row)
    console.print(tbl, crop=False)


def text_value(value: Any) -> str:
    """A value as people read it: yes/no, a list joined by commas, ``-`` for nothing."""
    if value is None or value == [] or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {text_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(
            # a pair inside a list is a range: START-END, as the CLI takes it
            "-".join(text_value(x) for x in v) if isinstance(v, list | tuple) else text_value(v)
            for v in value
        )
    return str(value)


def facts_text(facts: Mapping[str, Any]) -> str:
    """Facts as text: ``misconduct complaint: no; case status: open``."""
    return "; ".join(f"{name.replace('_', ' ')}: {text_value(v)}" for name, v in facts.items())


def fields(
    title: str | None,
    value: Any,
    *,
    skip: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
) -> None:
    """One record as a two-column table of its fields (a nested record's fields as
    ``outer inner``), values as text (:func:`text_value`). ``skip`` names fields left
    out (``outer.inner`` for a nested one); ``labels`` renames some."""
    rows: list[tuple[str, Any]] = []

    def walk(prefix: str, doc: Mapping[str, Any]) -> None:
        for key, v in doc.items():
            name = f"{prefix}{key}"
            if name in skip:
                continue
            if isinstance(v, Mapping):
                walk(f"{name}.", v)
            else:
                label = (labels or {}).get(name) or name.replace(".", " ").replace("_", " ")
                rows.append((label, text_value(v)))

    walk("", jsonable(value))
    table(title, ["field", "value"], rows)


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
