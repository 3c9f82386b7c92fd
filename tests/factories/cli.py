"""Run the ``custodes`` command line in the test's own process: the one CLI runner of tests.

A CLI subprocess costs about two seconds before it does anything (importing NumPy, PyAV,
SQLAlchemy, numba...); the whole suite ran hundreds of them. :func:`invoke` runs
``custodes.cli.app.main`` here instead, as the process would run it, and returns what a
:class:`subprocess.CompletedProcess` would hold (``returncode``, ``stdout``, ``stderr``)::

    from tests.factories.cli import invoke, ok

    proc = invoke("--home", str(home), "--as", "admin", "case", "list")
    assert proc.returncode == 0 and "C-1" in proc.stdout
    cases = ok("--home", str(home), "--as", "admin", "--json", "case", "list")  # parsed JSON

or, in a test, the fixture ``cli`` (tests/conftest.py): :func:`invoke` run in the test's
``tmp_path`` unless ``cwd`` is given, so that a command that writes into the current
folder (``export`` without ``--out``, ``trace`` without ``--report-dir``) never writes
into the source tree.

What a call does, and undoes afterwards:

- ``sys.argv`` is ``["custodes", *args]`` and the program name in usage lines is
  ``custodes`` (as the installed entry point shows it);
- stdout and stderr are fresh text buffers (``isatty()`` is False, as for a pipe), stdin
  is ``input`` (``str`` or ``bytes``; empty by default) with a ``.buffer`` as a pipe has;
- ``env`` is applied to ``os.environ`` (a value of ``None`` removes the variable) and
  ``cwd`` is the working directory, both restored afterwards;
- the rich consoles of ``custodes.cli.output`` are made afresh inside, so that they see
  this call's streams and ``COLUMNS``, as a new process's would;
- ``SystemExit`` gives the exit code; the SIGINT/SIGTERM handlers that ``main`` installs,
  ``sys.excepthook`` (Typer sets it) and the warning filters are put back;
- Typer's click command for the app is built once and kept (a new process builds it
  once too; building it costs more than most commands);
- every vault the call opened has its database engine disposed (no pooled connection is
  left holding a PostgreSQL schema that the test drops).

Keep a real subprocess only where the process itself is under test: signals and
interrupts (tests/cli/test_interrupt.py, the ingest killed at random moments), the
installed entry point and ``--version`` of the package metadata, ``serve`` (a server on a
port), and the one end-to-end run of BRIEF.md's CLI contract
(tests/cli/test_app.py::test_contract_end_to_end). :data:`CLI` is that command.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CLI", "home_args", "invoke", "ok"]

# The command line as a separate process (see above for where that is still the point).
CLI = [sys.executable, "-m", "custodes.cli.app"]


class _Out(io.StringIO):
    """A text stream that is not a terminal, as a pipe is not."""

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None] | None) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for name, value in (env or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


_COMMANDS: dict[int, Any] = {}


@contextlib.contextmanager
def _command_kept() -> Iterator[None]:
    """Typer rebuilds the click command tree of the app on every call (about a second of
    annotation evaluation); a process calls it once, so the runner keeps the first."""
    import typer.main

    real = typer.main.get_command

    def get_command(typer_instance: Any) -> Any:
        key = id(typer_instance)
        if key not in _COMMANDS:
            _COMMANDS[key] = (typer_instance, real(typer_instance))
        return _COMMANDS[key][1]

    typer.main.get_command = get_command  # type: ignore[assignment]
    try:
        yield
    finally:
        typer.main.get_command = real  # type: ignore[assignment]


@contextlib.contextmanager
def _vaults_disposed() -> Iterator[None]:
    """Dispose of the engines of every vault opened inside the block."""
    from custodes import bootstrap

    opened: list[Any] = []
    real_open, real_init = bootstrap.open_vault, bootstrap.init_vault

    def open_vault(*args: Any, **kwargs: Any) -> Any:
        vault = real_open(*args, **kwargs)
        opened.append(vault)
        return vault

    def init_vault(*args: Any, **kwargs: Any) -> Any:
        vault = real_init(*args, **kwargs)
        opened.append(vault)
        return vault

    bootstrap.open_vault, bootstrap.init_vault = open_vault, init_vault  # type: ignore[assignment]
    try:
        yield
    finally:
        bootstrap.open_vault, bootstrap.init_vault = real_open, real_init  # type: ignore[assignment]
        for vault in opened:
            vault.engine.dispose()


def invoke(
    *args: str | os.PathLike[str],
    input: str | bytes | None = None,
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``custodes ARGS`` in process; its exit code, stdout and stderr (as text)."""
    import warnings

    from rich.console import Console

    from custodes.cli import app as cli_app
    from custodes.cli import output

    argv = ["custodes", *(os.fspath(a) for a in args)]
    data = input.encode() if isinstance(input, str) else (input or b"")
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    out, err = _Out(), _Out()
    saved = (
        sys.argv,
        sys.stdin,
        sys.stdout,
        sys.stderr,
        sys.excepthook,
        sys.modules["__main__"],
        output.console,
        output.err_console,
        {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)},
    )
    here = os.getcwd()
    code: int = 0
    with _environment(env), warnings.catch_warnings(), _vaults_disposed(), _command_kept():
        try:
            if cwd is not None:
                os.chdir(cwd)
            sys.argv = argv
            # Click names the program after __main__ (``python -m pytest`` here): a bare
            # module makes it ``custodes``, the installed command's name.
            sys.modules["__main__"] = types.ModuleType("__main__")
            sys.stdin, sys.stdout, sys.stderr = stdin, out, err
            output.console = Console()
            output.err_console = Console(stderr=True)
            try:
                cli_app.main()
            except SystemExit as exc:
                code = _exit_code(exc, err)
        finally:
            (
                sys.argv,
                sys.stdin,
                sys.stdout,
                sys.stderr,
                sys.excepthook,
                sys.modules["__main__"],
                output.console,
                output.err_console,
                handlers,
            ) = saved
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            os.chdir(here)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _exit_code(exc: SystemExit, err: io.StringIO) -> int:
    """As the interpreter turns ``sys.exit(x)`` into a status (a message goes to stderr)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    err.write(f"{exc.code}\n")
    return 1


def ok(*args: str | os.PathLike[str], **kwargs: Any) -> Any:
    """:func:`invoke` that must succeed; its stdout parsed as JSON (pass ``--json``)."""
    proc = invoke(*args, **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def home_args(home: Path, user: str | None = "admin", *, json_out: bool = True) -> list[str]:
    """``--home HOME [--as USER] [--json]``: the global options most tests give."""
    return [
        "--home",
        str(home),
        *(["--as", user] if user else []),
        *(["--json"] if json_out else []),
    ]
