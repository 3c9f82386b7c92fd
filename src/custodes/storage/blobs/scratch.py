"""What the blob store backends share: hash names, and private temporary files on this
machine (blobs being staged, blobs downloaded for a reader) that a dead process left.

A temporary file is named ``<pid>-<random><suffix>`` after the process that writes it,
so that ``sweep`` can tell a file of a running process from a leftover of a dead one.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from custodes.core.errors import BackendUnavailable, InvalidInput
from custodes.processes import pid_alive

__all__ = [
    "TEMP_MAX_AGE",
    "check_hex",
    "sweep",
    "temp_name",
]

TEMP_MAX_AGE = 24 * 60 * 60
"""Seconds after which ``sweep`` removes a temporary file even if its writer lives."""

HEX64 = re.compile(r"[0-9a-f]{64}")
_TEMP_NAME = re.compile(r"(\d+)-[0-9a-f]+\.[a-z]+")


def check_hex(sha256: str) -> str:
    """``sha256`` if it is 64 lowercase hex digits, else InvalidInput (never a path)."""
    if not isinstance(sha256, str) or HEX64.fullmatch(sha256) is None:
        raise InvalidInput(
            f"not a SHA-256 hash: {sha256!r}",
            advice="give the 64 lowercase hexadecimal digits of the hash",
        )
    return sha256


def temp_name(suffix: str) -> str:
    """A fresh temporary file name naming this process: ``<pid>-<random><suffix>``."""
    return f"{os.getpid()}-{secrets.token_hex(8)}{suffix}"


def is_temp_name(name: str, suffixes: tuple[str, ...]) -> bool:
    return name.endswith(suffixes) and _TEMP_NAME.fullmatch(name) is not None


def sweep(folder: Path, suffixes: tuple[str, ...], *, advice: str | None = None) -> int:
    """Remove the temporary files in ``folder`` (names ending in one of ``suffixes``) of
    dead processes, or older than 24 h; return how many.

    The writer's pid is read from the file name. A file whose name carries no pid is
    removed only when it is older than 24 h; other files are left alone.
    """
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise BackendUnavailable(
            f"blob store: cannot list temporary files: {exc.strerror or exc}", advice=advice
        ) from exc
    for entry in entries:
        if not entry.name.endswith(suffixes):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            match = _TEMP_NAME.fullmatch(entry.name)
            dead = match is not None and not pid_alive(int(match.group(1)))
            old = now - entry.stat(follow_symlinks=False).st_mtime > TEMP_MAX_AGE
            if dead or old:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue  # removed meanwhile (committed or discarded)
        except OSError as exc:
            raise BackendUnavailable(
                f"blob store: cannot remove a temporary file: {exc.strerror or exc}",
                advice=advice,
            ) from exc
    return removed
