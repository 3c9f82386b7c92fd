"""What the core and the services need from the outside world, as Protocols.

Each protocol has one class per backend, picked by configuration in ``bootstrap``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from custodes.core.disclosure.pack import PolicyPack

Progress = Callable[[int], None]
"""Called with a number of bytes (or items) just processed."""


@dataclass(frozen=True)
class BlobRef:
    """A blob in the content-addressed store."""

    sha256: str  # lowercase hex
    size: int
    created: bool  # False when identical bytes were already stored (deduplicated)


@dataclass(frozen=True)
class StagedBlob:
    """Bytes streamed to a private temporary file and hashed, not yet in the store."""

    path: Path
    sha256: str
    size: int


RETENTION_SLACK = timedelta(days=1)
"""How much earlier than ``stored_at + retention`` a retention may end and still count:
the date is set when the upload begins, the object is dated when it ends."""


@dataclass(frozen=True)
class BlobLock:
    """The retention lock on a stored blob, as its store reports it.

    ``enforced`` is False for a store that cannot lock (a local folder): the other fields
    are then empty. ``mode`` is S3 Object Lock's (``COMPLIANCE``, ``GOVERNANCE``) or None;
    ``stored_at`` is when the store dated the object.
    """

    enforced: bool
    mode: str | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False
    stored_at: datetime | None = None

    def shortfall(self, retention: timedelta) -> str | None:
        """Why this lock does not keep the blob for ``retention`` in compliance mode from
        when it was stored (allowing :data:`RETENTION_SLACK`); None when it does."""
        if not self.enforced:
            return "its store cannot lock it"
        if self.mode != "COMPLIANCE" or self.retain_until is None:
            return f"it has no compliance-mode retention (mode {self.mode or 'none'})"
        if self.stored_at is not None:
            wanted = self.stored_at + retention - RETENTION_SLACK
            if self.retain_until < wanted:
                return (
                    f"its retention ends {self.retain_until.isoformat()}, before "
                    f"{(self.stored_at + retention).isoformat()}"
                )
        return None


@dataclass(frozen=True)
class LocalBlob:
    """A stored blob as a file on this machine, for the duration of a ``materialize``.

    ``sha256`` and ``size`` are those of the bytes actually in ``path``, computed as they
    were read (not the hash asked for): the caller compares them with what it recorded,
    and then uses this very file, so the bytes it uses are the bytes it checked.
    """

    path: Path
    sha256: str
    size: int


class BlobStore(Protocol):
    """A content-addressed (SHA-256) store of immutable blobs.

    Everything that reads a stored blob goes through this port: ``open`` for a stream,
    ``materialize`` where a reader needs a file path (seeking decoders), ``rehash`` to
    check it. No backend promises a path of its own, so the services work the same on a
    local folder and on an object store.
    """

    def stage(self, src: BinaryIO, *, progress: Progress | None = None) -> StagedBlob:
        """Stream ``src`` into a temporary file while hashing it (constant memory)."""
        ...

    def commit(self, staged: StagedBlob, *, retain: bool = False) -> BlobRef:
        """Atomically move a staged blob into the store (fsync, rename, read-only).

        ``retain``: an original, locked for the store's ``retention`` where it has one."""
        ...

    def discard(self, staged: StagedBlob) -> None:
        """Remove a staged blob that will not be kept."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int:
        """The stored size in bytes; raises NotFound."""
        ...

    def location(self, sha256: str) -> str:
        """Where the blob is kept, for people (a path, an ``s3://`` URL); raises NotFound.

        Nothing may read the blob through this: use ``open`` or ``materialize``."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the stored bytes (read sequentially); raises NotFound.

        The stream is not checked against ``sha256``: a reader that must use only intact
        bytes hashes what it reads, or uses ``materialize``."""
        ...

    def materialize(
        self, sha256: str, *, progress: Progress | None = None
    ) -> AbstractContextManager[LocalBlob]:
        """A local, read-only file holding the blob, hashed as it was made; raises NotFound.

        A local backend gives its stored file itself (re-hashed, nothing copied, nothing
        deleted); a remote one downloads into a private temporary file while hashing and
        removes it when the context ends.
        """
        ...

    def rehash(self, sha256: str, *, progress: Progress | None = None) -> str:
        """Re-read the blob and return the SHA-256 of what is actually stored.

        Raises NotFound when the blob is missing.
        """
        ...

    def iter_hashes(self) -> Iterator[str]: ...

    def sweep_temp(self) -> int:
        """Remove temporary files left by dead processes; return how many."""
        ...

    @property
    def retention(self) -> timedelta | None:
        """How long an original is locked from when it is stored; None: not locked."""
        ...

    def lock_status(self, sha256: str) -> BlobLock:
        """The lock the store holds on a blob; raises NotFound."""
        ...

    def hold(self, sha256: str, on: bool) -> None:
        """Put a legal hold on a blob, or lift it (a store that cannot lock: no-op)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


class Signer(Protocol):
    """An Ed25519 signer for signed notes (the vault key)."""

    @property
    def name(self) -> str: ...

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of ``message``."""
        ...


Ed25519Verify = Callable[[bytes, bytes, bytes], None]
"""``verify(public_key, signature, message)``: returns None or raises IntegrityFailure."""


class SigningCredential(Protocol):
    """A C2PA signing certificate chain, its key, and the roots a reader should trust."""

    @property
    def chain_pem(self) -> bytes: ...

    @property
    def key_pem(self) -> bytes: ...

    @property
    def anchors_pem(self) -> bytes: ...

    @property
    def alg(self) -> str:
        """C2PA's name: es256, es384, es512, ps256, ed25519."""
        ...

    @property
    def origin(self) -> str:
        """Either "department" (configured) or "self-made" (embedded default)."""
        ...

    @property
    def subject(self) -> str: ...

    @property
    def cert_sha256(self) -> str: ...


class KeyStore(Protocol):
    """The vault's keys. Which key may be made when is a business rule, so the store
    only reports what it holds; the services decide (``services.context``)."""

    def signer(self) -> Signer:
        """The log-signing key, checked against the published verifier key."""
        ...

    def watermark_secret(self) -> bytes | None:
        """The secret that keys every export's mark; None when it is missing."""
        ...

    def content_credential(self, *, may_create: bool) -> SigningCredential | None:
        """The department's C2PA credential, else the vault's self-made one. A missing
        self-made one is made only when ``may_create``; otherwise None."""
        ...

    def location(self, key: str) -> str:
        """Where ``key`` ("watermark-secret", "content-credential") is kept, for messages."""
        ...

    def trust_anchors(self) -> bytes | None:
        """The C2PA root(s) a reader of this vault's copies should trust, without making
        any: the configured trust anchors, else the self-made root, else the last
        certificate of the configured signing chain; None when there is none yet."""
        ...


class CheckpointStore(Protocol):
    """Where the newest signed checkpoint is published for witnesses and auditors."""

    @property
    def location(self) -> str:
        """Where it is, for messages (a path or URL)."""
        ...

    def publish(self, note: bytes) -> None:
        """Publish ``note`` if it is newer than what is published; keep a history."""
        ...

    def published(self) -> bytes | None:
        """The published note, None where none is; raises IntegrityFailure if unreadable."""
        ...


class PolicySource(Protocol):
    """Reads written policy packs: one shipped with custodes by name, a pack file, and
    the bytes the vault keeps. Which pack is in force is not its business: that is the
    vault's setting, on its signed log (``services.packs``)."""

    def read(self, choice: str) -> tuple[bytes, str]:
        """The bytes of the pack ``choice`` names (a built-in pack's name, or a path to a
        pack file) and a name for messages; NotFound or InvalidInput otherwise."""
        ...

    def parse(self, text: bytes, *, source_name: str) -> PolicyPack:
        """The pack in ``text``, validated (its hash is the SHA-256 of ``text``);
        InvalidInput, naming ``source_name`` and the line, otherwise."""
        ...


class ProgressTask(Protocol):
    """One task of a long use case, as a progress sink shows it."""

    def advance(self, amount: float = 1) -> None: ...

    def set_total(self, total: float | None) -> None: ...


class ProgressSink(Protocol):
    """The one progress protocol: a terminal bar on the CLI, job state on the web and
    in workers. ``start`` opens a task with a label and a total (None: unknown yet),
    counted in ``unit`` ("item", "frame" or "byte")."""

    def start(
        self, label: str, total: float | None = None, *, unit: str = "item"
    ) -> ProgressTask: ...


class _NullTask:
    def advance(self, amount: float = 1) -> None:
        return None

    def set_total(self, total: float | None) -> None:
        return None


class NullProgress:
    """A progress sink that shows nothing."""

    def start(self, label: str, total: float | None = None, *, unit: str = "item") -> ProgressTask:
        return _NullTask()


@dataclass
class RecordedTask:
    label: str
    total: float | None
    unit: str
    done: float = 0.0

    def advance(self, amount: float = 1) -> None:
        self.done += amount

    def set_total(self, total: float | None) -> None:
        self.total = total


class RecordingProgress:
    """A progress sink that keeps every task it was given (tests; a job's state)."""

    def __init__(self) -> None:
        self.tasks: list[RecordedTask] = []

    def start(self, label: str, total: float | None = None, *, unit: str = "item") -> ProgressTask:
        task = RecordedTask(label, total, unit)
        self.tasks.append(task)
        return task


class JobQueue(Protocol):
    """Where requested jobs wait for a runner: the vault's own table, run in this process
    (embedded), or a distributed engine's queue (Procrastinate on PostgreSQL).

    A job is enqueued inside the transaction that writes its row and the audit event that
    requested it (``transaction``: the unit of work's connection, opaque here), so that
    the three commit or roll back together: no event without its job, no job without its
    event. See docs/workers.md.
    """

    @property
    def engine(self) -> str:
        """``in-process`` or ``procrastinate``: for messages and ``custodes jobs``."""
        ...

    def enqueue(self, transaction: object, job_id: str, kind: str) -> None:
        """Put ``job_id`` on the queue within ``transaction`` (not yet committed)."""
        ...

    def wake(self) -> None:
        """After the commit: a runner waiting for work in this process may look now."""
        ...

    def wait_for_work(self, timeout: float) -> None:
        """Block until :meth:`wake` is called or ``timeout`` seconds pass (a runner in
        this process between looks at the jobs table)."""
        ...


class InProcessQueue:
    """The embedded engine: the ``jobs`` table is the queue, and a runner in this process
    (``custodes serve``'s background thread, ``services.jobs.run_pending``) takes the
    queued rows in order. Enqueueing writes nothing beyond the job's row."""

    engine = "in-process"

    def __init__(self) -> None:
        self._woken = threading.Event()

    def enqueue(self, transaction: object, job_id: str, kind: str) -> None:
        return None

    def wake(self) -> None:
        self._woken.set()

    def wait_for_work(self, timeout: float) -> None:
        self._woken.wait(timeout)
        self._woken.clear()
