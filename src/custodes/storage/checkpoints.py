"""The newest signed checkpoint, published as a file under ``<home>/log/`` for witnesses
and auditors, with every published note appended to a history file."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from custodes.core.checkpoint import note_text, parse_checkpoint
from custodes.core.errors import IntegrityFailure, InvalidInput

CHECKPOINT_FILE = Path("log") / "checkpoint"
CHECKPOINT_HISTORY = Path("log") / "checkpoints.log"
CHECKPOINT_LOCK = Path("log") / ".publish.lock"


class FileCheckpointStore:
    def __init__(self, home: Path) -> None:
        self.path = home / CHECKPOINT_FILE
        self.history = home / CHECKPOINT_HISTORY
        # Threads of this process publish one at a time, the newest note handed in
        # (a group publish: a writer whose note a larger one overtook while it waited
        # has nothing left to write, and its own is never written after the larger).
        self._turn = threading.Lock()
        self._newest_lock = threading.Lock()
        self._newest: tuple[int, bytes] | None = None
        self._done = -1  # the largest size this process published

    @property
    def location(self) -> str:
        return str(self.path)

    def publish(self, note: bytes) -> None:
        """Publish ``note`` unless a checkpoint as large is published already.

        Writers in other threads and processes publish one at a time (an exclusive
        ``flock`` on a lock file beside the checkpoint), so that a smaller checkpoint
        never replaces a larger one that a concurrent writer published first.

        Threads of one process take turns, and each turn publishes the newest note any
        of them handed in: one that waited while a larger one was published returns
        without writing (the history holds the notes published, not every note
        signed)."""
        try:
            size = parse_checkpoint(note_text(note)).size
        except InvalidInput:
            size = -1  # published as given, in its turn
        with self._newest_lock:
            if self._newest is None or size > self._newest[0]:
                self._newest = (size, note)
        with self._turn:
            if 0 <= size <= self._done:
                return
            with self._newest_lock:
                newest = self._newest or (size, note)  # as large as ours at least
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path.parent / CHECKPOINT_LOCK.name, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._publish(newest[1])
            finally:
                os.close(fd)  # releases the lock
            self._done = max(self._done, newest[0])

    def _publish(self, note: bytes) -> None:
        path = self.path
        current = path.read_bytes() if path.exists() else None
        if current is not None:
            try:
                if (
                    parse_checkpoint(note_text(current)).size
                    >= parse_checkpoint(note_text(note)).size
                ):
                    return
            except InvalidInput:
                pass  # a damaged file is replaced; verify reports tampering from the database
        tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(note)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with open(self.history, "ab") as fh:
            fh.write(note + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def published(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IntegrityFailure(f"{self.path}: {exc.strerror or exc}") from exc
