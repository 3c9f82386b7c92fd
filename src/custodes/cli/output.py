"""Printing: one JSON document with --json, rich tables and progress bars otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


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


@contextmanager
def byte_progress(label: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    if not show_progress(quiet):
        yield lambda _n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def multi_progress(quiet: bool) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """``start(label, total)`` returns ``advance(n)``; byte bars for blobs, counts else."""
    if not show_progress(quiet):
        yield lambda _label, _total: lambda _n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:

        def start(label: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        yield start


@contextmanager
def count_progress(
    label: str, quiet: bool
) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """Yields ``(set_total, advance)`` for work counted in items (frames)."""
    if not show_progress(quiet):
        yield (lambda _n: None), (lambda _n: None)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield (lambda n: bar.update(task, total=n)), (lambda n: bar.advance(task, n))
