"""The one place where the CLI turns errors into a line on stderr and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer

from custodes.cli.start import interrupted_exit_code, interrupted_line
from custodes.core.errors import CustodesError

# Click (which Typer vendors in recent releases) raises UsageError for a mistyped
# command line; found through a public Typer class so that either packaging works.
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
USAGE_EXIT = 2  # Click's code for a mistyped command line, kept apart from 3 (bad input)


def _one_line(text: str) -> str:
    """Whitespace collapsed and control characters (terminal escapes from hostile file
    names or media) shown as ``\\xNN``, so that an error stays one harmless line."""
    flat = " ".join(text.split())
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in flat)


# Where a service's field and the CLI option differ; otherwise ``start_s`` is ``--start-s``.
OPTION_OF_FIELD = {
    "actor": "--as USER or CUSTODES_USER",
    "evidence_ids": "--evidence",
    "ranges": "--range",
    "regions": "--region",
    "flags": "--flag",
}


def option(field: str) -> str:
    """How the CLI names a service's input field: its option."""
    return OPTION_OF_FIELD.get(field, "--" + field.replace("_", "-"))


def _usage(exc: Exception) -> None:
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: show its help
        exc.show()  # type: ignore[attr-defined]
        sys.exit(USAGE_EXIT)
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    message = exc.format_message()  # type: ignore[attr-defined]
    print(f"custodes: error: {_one_line(message)}{where}", file=sys.stderr)
    sys.exit(USAGE_EXIT)


def run_with_errors(fn: Callable[[], object]) -> None:
    """Run the CLI (``fn`` calls the Typer app with ``standalone_mode=False``)."""
    try:
        rv = fn()
    except CustodesError as exc:
        print(f"custodes: error: {_one_line(exc.render(option))}", file=sys.stderr)
        if exc.advice and sys.stderr.isatty():
            print(f"custodes: hint: {_one_line(exc.render_advice(option))}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except _UsageError as exc:
        _usage(exc)
    except typer.Abort:
        print("custodes: error: aborted", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        rv = 130
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # a bug: still one line, never a traceback dump
        print(
            f"custodes: internal error: {type(exc).__name__}: {_one_line(str(exc))}",
            file=sys.stderr,
        )
        sys.exit(1)
    if rv == 130:  # Typer turns Ctrl-C (and SIGTERM, see cli.start) into this exit code
        print(interrupted_line("nothing half-written was kept"), file=sys.stderr)
        sys.exit(interrupted_exit_code())
    if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
        sys.exit(rv)
