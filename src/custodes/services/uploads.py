"""Resumable uploads (issue 18): a file of any size sent in pieces, that survives a dropped
connection, and becomes evidence through the same ingest use case as ``custodes ingest``.

The web front door speaks tus 1.0 (``web/routes/uploads.py``); this module is the
protocol-free part. An upload is a folder under ``ctx.upload_dir``::

    UP-XXXXXXXXXXXX/.upload.json   who, which case, how long, when it expires
    UP-XXXXXXXXXXXX/<file name>    the bytes received so far (its size is the offset)

The file on disk is the truth: the offset is its size, so bytes that arrived before a
connection dropped are kept and the next request resumes after them. Bytes are written
as they arrive (never held whole in memory) and hashed as they arrive: the SHA-256 state
lives in this process between requests; where it is gone (a restart, another worker
process) or no longer matches the file, it is recomputed from the partial file before
the next bytes are taken. On the last byte the digest is final, and the file goes to
:func:`custodes.services.evidence.ingest`, which stages, hashes again, probes and records
it: a duplicate, a corrupt or a non-video file is refused there with the CLI's errors, on
record, and the upload is removed. Both digests must agree.

An upload belongs to the user who began it: anyone else is refused, on record. Partial
uploads are operational state, not evidence (docs/audit-log.md): their beginning and
their end without evidence (deleted, expired and swept) are on the audit log; the bytes
are not. A finished upload leaves only its small record (which evidence it became)
until it expires, so that a client whose last response was lost can ask.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Self

from custodes.core.authz import Permission
from custodes.core.custody import Action
from custodes.core.errors import (
    CustodesError,
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from custodes.services import evidence
from custodes.services.common import new_id
from custodes.services.context import Context
from custodes.services.usecase import UseCase, acting

INFO = ".upload.json"
ATTEMPTED_WRITE = "upload:write"
"""What a refused request tried, on record (an upload is its owner's alone)."""
HASH_BLOCK = 4 * 1024 * 1024
_ID = re.compile(r"^UP-[A-Z2-7]{12}$")


@dataclass(frozen=True)
class NewUpload:
    """What a client states when it begins an upload (tus ``Upload-Metadata``)."""

    length: int
    case: str
    filename: str = "upload"
    device: str | None = None
    recorded_at: str | None = None
    """ISO 8601 with a time zone, as ``custodes ingest --recorded-at`` takes it."""
    officer: str | None = None
    sha256: str | None = None
    """The digest the client expects (optional): a mismatch is refused at the end."""


@dataclass(frozen=True)
class Upload:
    """An upload and where it stands."""

    upload_id: str
    owner: str
    case: str
    length: int
    offset: int
    filename: str
    device: str | None
    recorded_at: str | None
    officer: str | None
    expected_sha256: str | None
    created_at: str
    expires_at: str
    status: str = "open"
    """``open`` (bytes still to come), ``done`` (it became evidence)."""
    evidence_id: str | None = None
    sha256: str | None = None

    @classmethod
    def read(cls, folder: Path) -> Self:
        data: dict[str, Any] = json.loads((folder / INFO).read_text())
        data["offset"] = data.get("offset", 0)
        found = cls(**data)
        if found.status == "open":
            data_file = folder / found.filename
            found = replace(found, offset=data_file.stat().st_size if data_file.exists() else 0)
        return found

    def write(self, folder: Path) -> None:
        tmp = folder / (INFO + ".tmp")
        tmp.write_text(json.dumps(asdict(self), sort_keys=True))
        os.replace(tmp, folder / INFO)


# The SHA-256 state of each upload this process is receiving, with the offset it covers.
_hashes: dict[str, tuple[int, Any]] = {}
_hashes_lock = threading.Lock()


def _root(ctx: Context) -> Path:
    if ctx.upload_dir is None:
        raise InvalidInput("this vault takes no uploads (no upload folder is set)")
    ctx.upload_dir.mkdir(parents=True, exist_ok=True)
    return ctx.upload_dir


def safe_name(name: str) -> str:
    """A file name the vault may use on disk and keep as the original name: its last
    path part, without control characters, never hidden, at most 200 characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    base = base.lstrip(".")[:200]
    return base or "upload"


def _expiry(ctx: Context) -> str:
    return (ctx.clock.now() + timedelta(seconds=ctx.upload_expiry_s)).isoformat()


def begin(ctx: Context, actor_name: str | None, new: NewUpload) -> Upload:
    """Begin an upload into a case the actor may ingest into (checked now, so that nobody
    sends gigabytes to be refused at the end; a refusal is on record as the CLI's)."""
    sweep(ctx)
    root = _root(ctx)
    with acting(ctx, actor_name) as uc:
        refused = Action.INGEST_REFUSED
        case = uc.found_case(new.case, attempted=Permission.EVIDENCE_INGEST, action=refused)
        uc.allow(Permission.EVIDENCE_INGEST, case=case, refusal_action=refused)
        try:
            _check_new(ctx, uc, new, root)
        except CustodesError as exc:
            uc.refuse(
                exc, attempted=Permission.EVIDENCE_INGEST.value, case=new.case, action=refused
            )
        up = Upload(
            upload_id=new_id("UP"),
            owner=uc.actor.username,
            case=case.number,
            length=new.length,
            offset=0,
            filename=safe_name(new.filename),
            device=new.device,
            recorded_at=new.recorded_at,
            officer=new.officer,
            expected_sha256=new.sha256.lower() if new.sha256 else None,
            created_at=ctx.clock.now().isoformat(),
            expires_at=_expiry(ctx),
        )
        folder = root / up.upload_id
        folder.mkdir()
        try:
            (folder / up.filename).touch()
            up.write(folder)
            uc.record(
                Action.UPLOAD_START,
                case=case,
                object_type="upload",
                object_id=up.upload_id,
                details={"length": up.length, "original_name": up.filename},
            )
            uc.commit()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return up


def _check_new(ctx: Context, uc: UseCase, new: NewUpload, root: Path) -> None:
    if new.length <= 0:
        raise InvalidInput("{Upload-Length}: the file is empty (0 bytes)", field="Upload-Length")
    if new.length > ctx.upload_max_size:
        raise InvalidInput(
            f"{{Upload-Length}} {new.length} bytes is over this vault's limit of "
            f"{ctx.upload_max_size} bytes",
            field="Upload-Length",
        )
    if new.recorded_at is not None:
        evidence.parse_iso8601(new.recorded_at, "recorded_at")
    if new.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", new.sha256):
        raise InvalidInput("{sha256} is not a SHA-256 digest (64 hex digits)", field="sha256")
    mine = [u for u in _all(root) if u.owner == uc.actor.username and u.status == "open"]
    if len(mine) >= ctx.upload_max_open:
        raise CustodyConflict(
            f"you have {len(mine)} unfinished uploads, the most one user may hold; "
            "finish or delete one first"
        )


def _all(root: Path) -> list[Upload]:
    found = []
    for folder in sorted(root.iterdir()):
        if _ID.match(folder.name) and (folder / INFO).exists():
            with contextlib.suppress(OSError, ValueError, TypeError):
                found.append(Upload.read(folder))
    return found


def _owned(uc: UseCase, upload_id: str) -> tuple[Upload, Path]:
    """The actor's upload ``upload_id``; an unknown one, or another user's, is refused on
    record."""
    root = _root(uc.ctx)
    folder = root / upload_id
    try:
        if not _ID.match(upload_id) or not (folder / INFO).exists():
            raise NotFound(f"no upload '{upload_id}'")
        up = Upload.read(folder)
    except (NotFound, OSError, ValueError, TypeError) as exc:
        error = exc if isinstance(exc, NotFound) else NotFound(f"no upload '{upload_id}'")
        uc.refuse(error, attempted=ATTEMPTED_WRITE, details={"upload": upload_id})
    if up.owner != uc.actor.username:
        uc.refuse(
            PermissionDenied(f"upload {upload_id} belongs to another user"),
            attempted=ATTEMPTED_WRITE,
            case=up.case,
            details={"upload": upload_id, "owner": up.owner},
        )
    return up, folder


def status(ctx: Context, actor_name: str | None, upload_id: str) -> Upload:
    """Where the actor's upload stands (its offset: the bytes kept so far). While a
    request is still writing it (the server has not yet seen a dropped connection end:
    the bytes already in its buffers still arrive), wait for it a while, so that the
    offset told is the one to resume from."""
    with acting(ctx, actor_name) as uc:
        up, folder = _owned(uc, upload_id)
    if up.status == "open" and _settled(folder / up.filename, WRITER_WAIT_S):
        up = Upload.read(folder)
    return up


WRITER_WAIT_S = 10.0


def _settled(path: Path, wait_s: float) -> bool:
    """Whether no request is writing ``path`` (waiting up to ``wait_s`` for one to end)."""
    deadline = time.monotonic() + wait_s
    try:
        with open(path, "rb") as fh:
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(0.05)
    except OSError:
        return False


class Appender:
    """Bytes appended to an upload as they arrive: written and hashed chunk by chunk.

    Made by :func:`append` (which checked the owner and the offset, and holds the
    upload's lock); :meth:`write` each chunk, then :meth:`close` (also after a dropped
    connection: what arrived is kept). :meth:`finish` makes it evidence once whole."""

    def __init__(self, ctx: Context, actor: str, up: Upload, folder: Path, fh: IO[bytes]) -> None:
        self.ctx, self.actor, self.up, self.folder, self._fh = ctx, actor, up, folder, fh
        self.offset = up.offset
        self._digest = _digest_at(up, folder, fh)
        self._closed = False

    def write(self, chunk: bytes) -> None:
        room = self.up.length - self.offset
        if len(chunk) > room:
            if room > 0:
                self._take(chunk[:room])
            raise InvalidInput(
                f"more bytes than the {{Upload-Length}} of {self.up.length} stated",
                field="Upload-Length",
            )
        self._take(chunk)

    def _take(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self._digest.update(chunk)
        self.offset += len(chunk)

    def close(self) -> int:
        """Keep what arrived (flushed to disk), release the upload; the new offset. The
        SHA-256 state stays with this process for the next request."""
        if not self._closed:
            self._sync()
            with _hashes_lock:
                _hashes[self.up.upload_id] = (self.offset, self._digest)
            self._release()
        return self.offset

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.up = replace(self.up, offset=self.offset, expires_at=_expiry(self.ctx))
        self.up.write(self.folder)

    def _release(self) -> None:
        self._closed = True
        self._fh.close()  # releases the lock

    @property
    def complete(self) -> bool:
        return self.offset == self.up.length

    def finish(self) -> Upload:
        """The whole file, made evidence by the ingest use case while the upload is still
        held (its refusals are the CLI's, on record, and leave nothing of the upload)."""
        assert self.complete and not self._closed
        try:
            self._sync()
            with _hashes_lock:
                _hashes.pop(self.up.upload_id, None)
            sha = self._digest.hexdigest()
            up, path = self.up, self.folder / self.up.filename
            try:
                self._check_digest(sha)
                ingested = evidence.ingest(
                    self.ctx,
                    self.actor,
                    path,
                    up.case,
                    officer=up.officer,
                    device=up.device,
                    recorded_at=(
                        evidence.parse_iso8601(up.recorded_at, "recorded_at")
                        if up.recorded_at
                        else None
                    ),
                )
                if ingested.sha256 != sha:
                    raise IntegrityFailure(
                        f"upload {up.upload_id}: the bytes hashed on arrival ({sha}) differ "
                        f"from those ingested ({ingested.sha256})"
                    )
            except BaseException:
                shutil.rmtree(self.folder, ignore_errors=True)
                raise
            path.unlink(missing_ok=True)
            done = replace(up, status="done", evidence_id=ingested.evidence_id, sha256=sha)
            done.write(self.folder)
            self.up = done
            return done
        finally:
            self._release()

    def _check_digest(self, sha: str) -> None:
        up = self.up
        if up.expected_sha256 is None or up.expected_sha256 == sha:
            return
        with acting(self.ctx, self.actor) as uc:
            uc.refuse(
                InvalidInput(
                    f"the file received has SHA-256 {sha}, not the {{sha256}} stated "
                    f"({up.expected_sha256})",
                    field="sha256",
                ),
                attempted=Permission.EVIDENCE_INGEST.value,
                case=up.case,
                action=Action.INGEST_REFUSED,
                details={"upload": up.upload_id},
            )


def _digest_at(up: Upload, folder: Path, fh: IO[bytes]) -> Any:
    """The SHA-256 state over the ``up.offset`` bytes kept: this process's, else
    recomputed from the partial file."""
    with _hashes_lock:
        held = _hashes.get(up.upload_id)
    if held is not None and held[0] == up.offset:
        return held[1].copy()
    digest = hashlib.sha256()
    with open(folder / up.filename, "rb") as src:
        while block := src.read(HASH_BLOCK):
            digest.update(block)
    return digest


def append(ctx: Context, actor_name: str | None, upload_id: str, offset: int) -> Appender:
    """Take bytes for the actor's upload from ``offset``, which must be the bytes kept so
    far (else 409: the client asks the offset and resumes from it). One writer at a time."""
    with acting(ctx, actor_name) as uc:
        up, folder = _owned(uc, upload_id)
    if up.status != "open":
        raise CustodyConflict(f"upload {upload_id} is finished (evidence {up.evidence_id})")
    fh = open(folder / up.filename, "ab")  # noqa: SIM115 - the Appender closes it
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CustodyConflict(
                f"upload {upload_id} is being written by another request; retry later"
            ) from None
        kept = os.fstat(fh.fileno()).st_size
        if offset != kept:
            raise CustodyConflict(
                f"{{Upload-Offset}} {offset} is not the offset of upload {upload_id} "
                f"({kept} bytes kept); ask it (HEAD) and resume from there",
                field="Upload-Offset",
            )
        return Appender(ctx, uc.actor.username, replace(up, offset=kept), folder, fh)
    except BaseException:
        fh.close()
        raise


def terminate(ctx: Context, actor_name: str | None, upload_id: str) -> None:
    """Delete the actor's upload and what was received (on record)."""
    with acting(ctx, actor_name) as uc:
        up, folder = _owned(uc, upload_id)
        _end(uc, up, folder, "deleted")
        uc.commit()


def _end(uc: UseCase, up: Upload, folder: Path, why: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    with _hashes_lock:
        _hashes.pop(up.upload_id, None)
    if up.status == "open":
        uc.record(
            Action.UPLOAD_END,
            case=up.case,
            object_type="upload",
            object_id=up.upload_id,
            details={"why": why, "received": up.offset, "length": up.length},
        )


def sweep(ctx: Context) -> list[str]:
    """Remove the uploads whose time is up (unfinished ones on record, in their owner's
    name with this client); the ids removed. Run at each new upload and by ``serve``."""
    if ctx.upload_dir is None:
        return []
    root = _root(ctx)
    now = ctx.clock.now()
    swept = []
    for up in _all(root):
        if datetime.fromisoformat(up.expires_at) > now:
            continue
        folder = root / up.upload_id
        try:  # one being written is not expired: its writer holds the lock
            with open(folder / up.filename, "ab") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        except OSError:
            pass
        try:
            with acting(ctx, up.owner) as uc:
                _end(uc, up, folder, "expired")
                uc.commit()
        except CustodesError:  # an owner no longer active: the bytes go all the same
            shutil.rmtree(folder, ignore_errors=True)
        swept.append(up.upload_id)
    return swept


def metadata_of(pairs: Mapping[str, str], length: int) -> NewUpload:
    """A :class:`NewUpload` from decoded tus metadata (``case`` is required)."""
    case = pairs.get("case")
    if not case:
        raise InvalidInput("{Upload-Metadata} must name the 'case'", field="case")
    return NewUpload(
        length=length,
        case=case,
        filename=pairs.get("filename") or pairs.get("name") or "upload",
        device=pairs.get("device") or None,
        recorded_at=pairs.get("recorded_at") or None,
        officer=pairs.get("officer") or None,
        sha256=pairs.get("sha256") or None,
    )
