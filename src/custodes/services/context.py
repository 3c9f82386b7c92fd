"""What a use case is given to act with: ports, and the client it acts for.

``bootstrap`` builds one ``Context`` per opened vault from the settings; each front door
then names the client of each call with :meth:`Context.acting_for` (a CLI invocation, a
web session with its address, a worker running a job), so that the audit entry's
``client`` says who is behind the call rather than which process served it.

Services never import ``bootstrap``: this is all they know of the world. The rules about
keys that are business rules (a missing watermark secret is never re-created; a missing
self-made C2PA credential is re-made only if no copy was signed with it) live here,
not in the wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

from custodes.core.errors import IntegrityFailure
from custodes.core.ports import (
    BlobStore,
    CheckpointStore,
    Clock,
    Ed25519Verify,
    InProcessQueue,
    JobQueue,
    KeyStore,
    NullProgress,
    PolicySource,
    ProgressSink,
    Signer,
    SigningCredential,
)
from custodes.storage.uow import UnitOfWork

UnitOfWorkFactory = Callable[[bool], UnitOfWork]
"""``factory(readonly)`` opens a unit of work on the vault's database."""


@dataclass(frozen=True)
class Context:
    """An opened vault as the use cases see it."""

    origin: str
    clock: Clock
    blobs: BlobStore
    keys: KeyStore
    checkpoints: CheckpointStore
    policy: PolicySource
    """Reads and validates packs; the pack *in force* is on the signed log (services.packs)."""
    verify_signature: Ed25519Verify
    unit_of_work: UnitOfWorkFactory
    agency: str
    model_dir: Path
    """Where derived model files (the 8-bit face model) are kept between runs."""
    cache_dir: Path | None = None
    """Where rendered copies that may be made again are kept for reuse (the segments of a
    viewing's marked stream); None: nothing is cached."""
    client: str = "unknown client"
    """Who is behind this call: ``cli os-user=...``, ``web session=... addr=...``, ``job ...``."""
    progress: ProgressSink = field(default_factory=NullProgress)
    jobs: JobQueue = field(default_factory=InProcessQueue)
    """Where requested jobs wait for a runner (services.jobs, docs/workers.md)."""
    export_dir: Path | None = None
    """Where copies made by jobs are written (None: jobs make no copies here)."""
    segment_seconds: float = 0.0
    """An export longer than this is rendered in segments of about this length and
    joined (``media.segments``); 0: always one render."""
    upload_dir: Path | None = None
    """Where resumable uploads are kept until they become evidence (services.uploads);
    None: the vault takes no uploads."""
    upload_max_size: int = 64 * 1024**3
    """The largest upload accepted, in bytes."""
    upload_max_open: int = 5
    """How many unfinished uploads one user may hold at once."""
    upload_expiry_s: float = 24 * 3600.0
    """How long an upload left untouched is kept before it is swept."""
    trace_dir: Path | None = None
    """Where a leaked clip waits for its trace job, and the trace's report is kept
    (services.jobs); None: the vault takes no trace jobs."""
    trace_max_size: int = 4 * 1024**3
    """The largest leaked clip a trace job takes, in bytes."""

    def acting_for(self, client: str, *, progress: ProgressSink | None = None) -> Self:
        """The same vault, acting for another client (and reporting to its progress sink)."""
        return replace(self, client=client, progress=progress or self.progress)

    def uow(self, *, readonly: bool = False) -> UnitOfWork:
        return self.unit_of_work(readonly)

    @property
    def signer(self) -> Signer:
        return self.keys.signer()

    @property
    def watermark_secret(self) -> bytes:
        """The vault secret that, with an export id, keys each export's invisible mark.

        Only ``custodes init`` creates it: a new secret would key new copies differently
        and leave every earlier copy untraceable, so a missing one is an integrity failure.
        """
        secret = self.keys.watermark_secret()
        if secret is None:
            raise IntegrityFailure(
                f"the vault's watermark secret {self.keys.location('watermark-secret')} is "
                "missing; restore it from backup",
                advice="without it no earlier copy can be traced; only a new vault makes one",
            )
        return secret

    def content_credential(self) -> SigningCredential:
        """The certificate that signs released copies' C2PA manifests: the department's,
        else the vault's self-made one, made on first use. Once copies were signed with a
        self-made one, a missing one is restored from backup, never replaced (those copies
        would stop verifying)."""
        cred = self.keys.content_credential(may_create=False)
        if cred is not None:
            return cred
        signed = self._copies_signed()
        if signed:
            raise IntegrityFailure(
                "the vault's Content Credentials signing key "
                f"({self.keys.location('content-credential')}) is missing, and "
                f"{signed} released cop{'y was' if signed == 1 else 'ies were'} "
                "signed with it; restore it from backup",
                advice="a new root would not verify the copies already released",
            )
        made = self.keys.content_credential(may_create=True)
        assert made is not None
        return made

    def _copies_signed(self) -> int:
        with self.uow(readonly=True) as uow:  # a plain read: a release may hold the writer lock
            return uow.exports.count_with_content_credentials()
