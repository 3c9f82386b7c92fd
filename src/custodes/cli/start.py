"""Where the ``custodes`` command starts: signals first, then the (slow) imports.

Importing the command line loads NumPy, PyAV, SQLAlchemy and more, which takes a second
or so; a Ctrl-C in that second would otherwise print a traceback. Here, before anything
heavy is imported, SIGINT and SIGTERM are made to raise :class:`KeyboardInterrupt` (SIGTERM
too, so that ``kill`` and service managers get the same clean-up as Ctrl-C: a staged
copy removed, a transaction rolled back), and an interruption while starting is one line.

Only the standard library is imported here.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["install_signal_handlers", "interrupted_exit_code", "interrupted_line", "main"]

_received: list[int] = []


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread (and are noted)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)


def _signal() -> int:
    return _received[0] if _received else signal.SIGINT


def interrupted_line(what: str) -> str:
    """``custodes: interrupted (SIGINT); WHAT`` (or ``terminated (SIGTERM)``)."""
    sig = _signal()
    verb = "terminated" if sig == signal.SIGTERM else "interrupted"
    return f"custodes: {verb} ({signal.Signals(sig).name}); {what}"


def interrupted_exit_code() -> int:
    """128 + the signal's number, as shells report a process stopped by it."""
    return 128 + int(_signal())


def main() -> None:
    install_signal_handlers()
    try:
        from custodes.cli.app import main as run
    except KeyboardInterrupt:
        print(interrupted_line("stopped while starting; nothing was done"), file=sys.stderr)
        sys.exit(interrupted_exit_code())
    run()


if __name__ == "__main__":  # pragma: no cover
    main()
