"""The one place where the CLI turns errors into a line on stderr and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable

from custodes.core.errors import CustodesError


def run_with_errors(fn: Callable[[], object]) -> None:
    try:
        fn()
    except CustodesError as exc:
        print(f"custodes: error: {exc}", file=sys.stderr)
        if exc.advice and sys.stderr.isatty():
            print(f"custodes: hint: {exc.advice}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("custodes: interrupted; nothing half-written was kept", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # a bug: still one line, never a traceback dump
        detail = " ".join(str(exc).split())
        print(f"custodes: internal error: {type(exc).__name__}: {detail}", file=sys.stderr)
        sys.exit(1)
