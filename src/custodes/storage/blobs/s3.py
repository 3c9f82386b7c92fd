"""Content-addressed blob store on S3, or an S3-compatible object store, through boto3.

Keys under the prefix mirror the local store's layout, so a folder of blobs and a bucket
of them can be copied into each other with any sync tool::

    <prefix>sha256/ab/cd/abcd...     one object per blob, named by its SHA-256

Writing. ``stage`` streams the source into a private temporary file on this machine
(``scratch``) while custodes hashes it with SHA-256 itself; S3's own checksums are never
trusted for that (a multipart upload's checksum is a composite of its parts, not the
file's hash). ``commit`` uploads the staged file through boto3's managed transfer
(multipart above ``multipart_threshold``, parts sent in parallel) with
``If-None-Match: *``, so that an existing object is never replaced, even by two
processes committing the same bytes at once (the loser learns the blob is there); then
checks the size S3 reports. A multipart upload that fails, or is interrupted in the
caller's thread (Ctrl-C), is aborted by the transfer manager, so no parts are left
behind (both tested); one killed outright is aborted by ``sweep_temp`` a day later.

Object Lock. With a ``retention`` (``CUSTODES_RETENTION_DAYS``), an original
(``commit(..., retain=True)``) is written in compliance mode, retained until the upload
began plus the retention, with a SHA-256 checksum on each request as S3 asks of a locked
write. The lock is then read back, and set with PutObjectRetention where it is missing or
short: a server that ignores the lock headers of a multipart upload (moto does) still
ends with a locked original, and an original already stored with a shorter lock (before
the retention was set) has its retention extended. The
bucket must have Object Lock enabled (:meth:`S3BlobStore.check_object_lock`, which
``bootstrap`` calls). ``lock_status`` reads an object's lock for ``verify``; ``hold``
puts or lifts a legal hold. custodes never deletes an object and never shortens a
retention: the client refuses DeleteObject(s), and any PutObjectRetention that is not
compliance mode or that bypasses governance, before a request is sent (``_refuse``).

Reading is streamed: ``open`` (a file-like stream), ``rehash`` (hashes the object as it
arrives), ``materialize`` (downloads into a private temporary file while hashing it, so
that a reader that needs a path uses exactly the bytes that were checked, and removes the
file afterwards).

Checksums: the client is built with ``request_checksum_calculation`` and
``response_checksum_validation`` set to ``when_required``; botocore's defaults since 1.36
add CRC32 trailers that several S3-compatible servers refuse.

Errors: botocore's exceptions are translated here, at the boundary, and chained: a
missing object is ``NotFound``; a connection failure, a timeout, a missing bucket, refused
credentials or any other answer of the server is ``BackendUnavailable``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
import boto3.s3.transfer
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from urllib3.exceptions import HTTPError as URLLib3Error

from custodes.core.errors import (
    BackendUnavailable,
    CustodesError,
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
)
from custodes.core.ports import BlobLock, BlobRef, BlobStore, LocalBlob, Progress, StagedBlob
from custodes.storage.blobs.scratch import (
    HEX64,
    TEMP_MAX_AGE,
    check_hex,
    is_temp_name,
    sweep,
    temp_name,
)

__all__ = ["S3BlobStore", "make_client"]

CHUNK_SIZE = 8 * 1024 * 1024
"""Bytes read (and hashed) per step of ``stage``, ``rehash`` and ``materialize``."""

MULTIPART_THRESHOLD = 16 * 1024 * 1024
"""Blobs from this size up are uploaded in parts."""

MULTIPART_CHUNKSIZE = 16 * 1024 * 1024
"""The size of each part (boto3 raises it for files that would need over 10,000 parts).
With ``MAX_CONCURRENCY`` parts in flight, an upload holds about 64 MiB of memory."""

MAX_CONCURRENCY = 4
"""Parts uploaded at once."""

_STAGE_SUFFIX = ".part"
_GET_SUFFIX = ".get"
_DIR_MODE = 0o700
_TEMP_MODE = 0o600
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_PRECONDITION_FAILED = frozenset({"PreconditionFailed", "412"})  # If-None-Match: it is there
_CONFLICT = frozenset({"ConditionalRequestConflict", "409"})  # another write under way
_CREDENTIALS = frozenset(
    {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)


_session_lock = threading.Lock()


@functools.cache
def _session() -> Any:
    """One boto3 session per process: each new one loads the service models again.
    Its credentials are resolved once (refreshable ones refresh themselves)."""
    return boto3.session.Session()


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    addressing_style: str = "auto",
) -> Any:
    """An S3 client for the blob store.

    Credentials, and the endpoint when ``endpoint_url`` is None, come from boto3's usual
    chain (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``, ...).
    """
    config = Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=MAX_CONCURRENCY * 2,
        s3={"addressing_style": addressing_style},
    )
    try:
        with _session_lock:  # a session is not thread-safe; the clients it makes are
            return _session().client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=config
            )
    except ValueError as exc:  # a malformed endpoint URL
        raise InvalidInput(f"S3 endpoint: {exc}", advice="check CUSTODES_S3_ENDPOINT_URL") from exc
    except BotoCoreError as exc:
        raise BackendUnavailable(f"S3 client: {exc}") from exc


def _refuse_overwrites(params: dict[str, Any], **_: Any) -> None:
    """botocore hook: every object this store writes is conditional on there being none."""
    params.setdefault("IfNoneMatch", "*")


def _refuse_deletes(params: dict[str, Any], **_: Any) -> None:
    """botocore hook: custodes never deletes a stored object, locked or not."""
    raise CustodyConflict("custodes never deletes a stored blob")


def _refuse_weaker_retention(params: dict[str, Any], **_: Any) -> None:
    """botocore hook: a retention custodes sets is in compliance mode and bypasses
    nothing (lengthening is the only change compliance mode allows; see ``_retain``)."""
    retention = params.get("Retention") or {}
    if params.get("BypassGovernanceRetention") or retention.get("Mode") != "COMPLIANCE":
        raise CustodyConflict("custodes only sets compliance-mode retentions, and bypasses none")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _Body(io.RawIOBase):
    """A boto3 response body as a raw stream whose errors are ours."""

    def __init__(self, store: S3BlobStore, sha256: str, body: Any) -> None:
        self._store = store
        self._sha256 = sha256
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        with self._store._translated(f"read blob {self._sha256}", self._sha256):
            data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._body.close()
        super().close()


class S3BlobStore:
    """A :class:`~custodes.core.ports.BlobStore` on an S3 bucket, under a key prefix.

    ``client`` is a boto3 S3 client of its own (:func:`make_client`): the store registers
    a hook on it that makes every PutObject and CompleteMultipartUpload conditional.
    ``scratch`` is a local folder for staged uploads and materialised downloads.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        scratch: Path,
        *,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        multipart_chunksize: int = MULTIPART_CHUNKSIZE,
        max_concurrency: int = MAX_CONCURRENCY,
        retention: timedelta | None = None,
    ) -> None:
        if not bucket:
            raise InvalidInput("an S3 blob store needs a bucket name")
        if retention is not None and retention <= timedelta(0):
            raise InvalidInput("a retention must be longer than zero")
        self._retention = retention
        self._client = client
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.scratch = Path(scratch)
        self._transfer = boto3.s3.transfer.TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )
        events = client.meta.events
        for op in ("PutObject", "CompleteMultipartUpload"):
            events.register(
                f"before-parameter-build.s3.{op}",
                _refuse_overwrites,
                unique_id=f"custodes-refuse-overwrites-{op}",
            )
        for op in ("DeleteObject", "DeleteObjects"):
            events.register(
                f"before-parameter-build.s3.{op}",
                _refuse_deletes,
                unique_id=f"custodes-refuse-deletes-{op}",
            )
        events.register(
            "before-parameter-build.s3.PutObjectRetention",
            _refuse_weaker_retention,
            unique_id="custodes-refuse-weaker-retention",
        )

    def __repr__(self) -> str:
        return f"S3BlobStore('s3://{self.bucket}/{self.prefix}')"

    # -- keys and errors ------------------------------------------------------------------

    def key(self, sha256: str) -> str:
        """The object key of a blob."""
        sha256 = check_hex(sha256)
        return f"{self.prefix}sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    @contextlib.contextmanager
    def _translated(self, what: str, sha256: str | None = None) -> Iterator[None]:
        """botocore's (and urllib3's) exceptions inside become ours, chained."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(what, exc, sha256) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise BackendUnavailable(
                f"blob store {self}: {what}: {exc}",
                advice="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
            ) from exc
        except (BotoCoreError, URLLib3Error) as exc:
            raise BackendUnavailable(
                f"blob store {self}: {what}: {exc}",
                advice="check that the S3 endpoint is reachable (CUSTODES_S3_ENDPOINT_URL)",
            ) from exc

    def _client_error(self, what: str, exc: ClientError, sha256: str | None) -> CustodesError:
        code = _error_code(exc)
        if code in _NOT_FOUND and sha256 is not None:
            return NotFound(f"no blob {sha256}")
        if code == "NoSuchBucket":
            return BackendUnavailable(
                f"blob store {self}: no bucket '{self.bucket}'",
                advice="create the bucket, or check CUSTODES_BLOB_URL",
            )
        if code in _CREDENTIALS:
            return BackendUnavailable(
                f"blob store {self}: {what}: access denied ({code})",
                advice="check the S3 credentials and the bucket's policy",
            )
        message = exc.response.get("Error", {}).get("Message") or code
        return BackendUnavailable(f"blob store {self}: {what}: {message}")

    # -- local temporary files ------------------------------------------------------------

    def _new_temp(self, suffix: str) -> tuple[Path, int]:
        try:
            self.scratch.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            path = self.scratch / temp_name(suffix)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _TEMP_MODE)
        except OSError as exc:
            raise BackendUnavailable(
                f"blob store: cannot create a temporary file in {self.scratch}: "
                f"{exc.strerror or exc}",
                advice="check that the blob scratch folder is writable and has free space",
            ) from exc
        return path, fd

    def _check_staged(self, staged: StagedBlob) -> None:
        check_hex(staged.sha256)
        path = staged.path
        if path.parent != self.scratch or not is_temp_name(path.name, (_STAGE_SUFFIX,)):
            raise InvalidInput(f"not a file staged by this blob store: {str(path)!r}")

    # -- staging and committing -----------------------------------------------------------

    def stage(self, src: BinaryIO, *, progress: Progress | None = None) -> StagedBlob:
        """Stream ``src`` into a private temporary file while hashing it (constant memory)."""
        path, fd = self._new_temp(_STAGE_SUFFIX)
        try:
            with open(fd, "wb", buffering=0, closefd=True) as out:
                digest, size = _copy_hashing(_reader(src), out.write, progress)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            if isinstance(exc, OSError):
                raise BackendUnavailable(
                    f"blob store: staging failed: {exc.strerror or exc}"
                ) from exc
            raise
        return StagedBlob(path=path, sha256=digest, size=size)

    def discard(self, staged: StagedBlob) -> None:
        """Remove a staged blob that will not be kept (no error if it is already gone)."""
        self._check_staged(staged)
        try:
            staged.path.unlink(missing_ok=True)
        except OSError as exc:
            raise BackendUnavailable(
                f"blob store: cannot remove a temporary file: {exc.strerror or exc}"
            ) from exc

    def commit(self, staged: StagedBlob, *, retain: bool = False) -> BlobRef:
        """Upload a staged blob (in parts when large), never replacing an existing object.

        Returns ``created=False`` (and removes the staged file) when the blob was already
        stored. ``retain``: an original, locked in compliance mode for ``retention``
        (where the store has one); one already stored gets at least that lock.
        """
        self._check_staged(staged)
        try:
            size = staged.path.stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"staged blob is gone: {str(staged.path)!r}") from exc
        except OSError as exc:
            raise BackendUnavailable(f"blob store: cannot read a staged blob: {exc}") from exc
        if size != staged.size:
            raise IntegrityFailure(
                f"staged blob {staged.sha256} has {size} bytes, expected {staged.size}"
            )
        if self.exists(staged.sha256):
            return self._already_stored(staged, retain)
        key = self.key(staged.sha256)
        extra = {
            "ContentType": "application/octet-stream",
            # For people and tools; custodes itself always re-hashes the bytes.
            "Metadata": {"sha256": staged.sha256},
            **self._lock_args(retain),
        }
        try:
            with (
                self._translated(f"upload blob {staged.sha256}"),
                boto3.s3.transfer.create_transfer_manager(self._client, self._transfer) as tm,
            ):
                tm.upload(str(staged.path), self.bucket, key, extra_args=extra).result()
        except BackendUnavailable as exc:
            cause = exc.__cause__
            code = _error_code(cause) if isinstance(cause, ClientError) else ""
            if code in _CONFLICT:  # a conflicting write in flight: stored only if it is there
                try:
                    self._head(staged.sha256)
                except NotFound:
                    raise exc from cause
            elif code not in _PRECONDITION_FAILED:
                raise
            return self._already_stored(staged, retain)  # stored meanwhile by another
        stored = self.size(staged.sha256)
        if stored != staged.size:
            raise IntegrityFailure(
                f"blob {staged.sha256} was stored with {stored} bytes, expected {staged.size}"
            )
        if retain:  # checked, and set where a server dropped the lock of a multipart upload
            self._retain(staged.sha256)
        self.discard(staged)
        return BlobRef(sha256=staged.sha256, size=staged.size, created=True)

    def _already_stored(self, staged: StagedBlob, retain: bool) -> BlobRef:
        self.discard(staged)
        if retain:
            self._retain(staged.sha256)
        return BlobRef(sha256=staged.sha256, size=staged.size, created=False)

    def _retain_until(self) -> datetime:
        assert self._retention is not None
        return datetime.now(UTC) + self._retention

    def _lock_args(self, retain: bool) -> dict[str, Any]:
        """Object Lock arguments of a new object: compliance mode until now plus the
        retention, for an original where the store has a retention; none otherwise.

        S3 wants a checksum on each request of a locked write; ``when_required`` does not
        send one by itself, so SHA-256 is asked for (for each part of a multipart upload).
        """
        if not retain or self._retention is None:
            return {}
        return {
            "ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": self._retain_until(),
            "ChecksumAlgorithm": "SHA256",
        }

    def _retain(self, sha256: str) -> None:
        """Give a stored original at least the store's retention, lengthening only."""
        if self._retention is None:
            return
        lock = self.lock_status(sha256)
        until = self._retain_until()
        if lock.retain_until is not None and lock.retain_until >= until:
            if lock.mode == "COMPLIANCE":
                return
            until = lock.retain_until  # a governance retention: made compliance, as long
        with self._translated(f"lock blob {sha256}", sha256):
            self._client.put_object_retention(
                Bucket=self.bucket,
                Key=self.key(sha256),
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
            )

    # -- locks ----------------------------------------------------------------------------

    @property
    def retention(self) -> timedelta | None:
        """How long an original is locked from when it is stored; None: not locked."""
        return self._retention

    def check_object_lock(self) -> None:
        """With a retention, refuse a bucket without Object Lock (InvalidInput)."""
        if self._retention is None:
            return
        try:
            with self._translated("read the bucket's Object Lock configuration"):
                conf = self._client.get_object_lock_configuration(Bucket=self.bucket)
        except BackendUnavailable as exc:
            cause = exc.__cause__
            if not (
                isinstance(cause, ClientError)
                and _error_code(cause) == "ObjectLockConfigurationNotFoundError"
            ):
                raise
            conf = {}
        enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise InvalidInput(
                f"bucket '{self.bucket}' has no Object Lock, which a retention needs",
                advice="create the bucket with Object Lock enabled, "
                "or unset CUSTODES_RETENTION_DAYS",
            )

    def lock_status(self, sha256: str) -> BlobLock:
        """The object's lock (mode, retention date, legal hold); raises NotFound."""
        head = self._head(sha256)
        return BlobLock(
            enforced=True,
            mode=head.get("ObjectLockMode"),
            retain_until=head.get("ObjectLockRetainUntilDate"),
            legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
            stored_at=head.get("LastModified"),
        )

    def hold(self, sha256: str, on: bool) -> None:
        """Put a legal hold on the object, or lift it; raises NotFound."""
        self._head(sha256)
        with self._translated(f"legal hold on blob {sha256}", sha256):
            self._client.put_object_legal_hold(
                Bucket=self.bucket,
                Key=self.key(sha256),
                LegalHold={"Status": "ON" if on else "OFF"},
            )

    # -- reading --------------------------------------------------------------------------

    def _head(self, sha256: str) -> dict[str, Any]:
        key = self.key(sha256)
        with self._translated(f"look up blob {sha256}", sha256):
            head: dict[str, Any] = self._client.head_object(Bucket=self.bucket, Key=key)
        return head

    def exists(self, sha256: str) -> bool:
        try:
            self._head(sha256)
        except NotFound:
            return False
        return True

    def size(self, sha256: str) -> int:
        """The stored size in bytes; raises NotFound."""
        return int(self._head(sha256)["ContentLength"])

    def location(self, sha256: str) -> str:
        """The object's ``s3://`` URL, for people; raises NotFound."""
        self._head(sha256)
        return f"s3://{self.bucket}/{self.key(sha256)}"

    def _body(self, sha256: str) -> _Body:
        key = self.key(sha256)
        with self._translated(f"read blob {sha256}", sha256):
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        return _Body(self, sha256, response["Body"])

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the object as it arrives; raises NotFound."""
        return cast(BinaryIO, io.BufferedReader(self._body(sha256), buffer_size=1024 * 1024))

    def rehash(self, sha256: str, *, progress: Progress | None = None) -> str:
        """Stream the object and return the SHA-256 of what is actually stored."""
        with self._body(sha256) as body:
            digest, _ = _copy_hashing(body.readinto, None, progress)
        return digest

    @contextlib.contextmanager
    def materialize(self, sha256: str, *, progress: Progress | None = None) -> Iterator[LocalBlob]:
        """Download the object into a private, read-only temporary file while hashing it;
        the file is removed when the context ends."""
        path, fd = self._new_temp(_GET_SUFFIX)
        try:
            try:
                with open(fd, "wb", buffering=0, closefd=True) as out, self._body(sha256) as body:
                    digest, size = _copy_hashing(body.readinto, out.write, progress)
                path.chmod(0o400)
            except OSError as exc:
                raise BackendUnavailable(
                    f"blob store: cannot write a temporary file in {self.scratch}: "
                    f"{exc.strerror or exc}"
                ) from exc
            yield LocalBlob(path=path, sha256=digest, size=size)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

    def iter_hashes(self) -> Iterator[str]:
        """Every stored hash, in sorted order (S3 lists keys in order); strays ignored."""
        base = f"{self.prefix}sha256/"
        paginator = self._client.get_paginator("list_objects_v2")
        with self._translated("list blobs"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for item in page.get("Contents", ()):
                    parts = str(item["Key"])[len(base) :].split("/")
                    if (
                        len(parts) == 3
                        and HEX64.fullmatch(parts[2])
                        and parts[0] == parts[2][:2]
                        and parts[1] == parts[2][2:4]
                    ):
                        yield parts[2]

    # -- housekeeping ---------------------------------------------------------------------

    def sweep_temp(self) -> int:
        """Remove local temporary files of dead processes (or older than 24 h) and abort
        multipart uploads under the prefix begun over 24 h ago; return how many."""
        removed = sweep(self.scratch, (_STAGE_SUFFIX, _GET_SUFFIX))
        paginator = self._client.get_paginator("list_multipart_uploads")
        now = time.time()
        try:
            with self._translated("list unfinished uploads"):
                for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}sha256/"):
                    for up in page.get("Uploads", ()):
                        if now - up["Initiated"].timestamp() > TEMP_MAX_AGE:
                            self._client.abort_multipart_upload(
                                Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"]
                            )
                            removed += 1
        except BackendUnavailable as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and _error_code(cause) == "NotImplemented"):
                raise
        return removed


def _reader(src: BinaryIO) -> Callable[[bytearray], int]:
    """``readinto`` for any source; a source with ``read`` only is read through it."""
    readinto: Callable[[bytearray], int | None] | None = getattr(src, "readinto", None)

    def via_readinto(buf: bytearray) -> int:
        assert readinto is not None
        got = readinto(buf)
        if got is None:
            raise InvalidInput("the source is non-blocking and has no data ready")
        return got

    def via_read(buf: bytearray) -> int:
        data = src.read(len(buf))
        if not isinstance(data, bytes | bytearray):
            raise InvalidInput("the source must yield bytes")
        buf[: len(data)] = data
        return len(data)

    return via_readinto if readinto is not None else via_read


def _copy_hashing(
    readinto: Callable[[bytearray], int],
    write: Callable[[memoryview], object] | None,
    progress: Progress | None,
) -> tuple[str, int]:
    """Read to the end, hashing (and writing, where ``write`` is given) every byte."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    size = 0
    while n := readinto(buf):
        chunk = view[:n]
        h.update(chunk)
        if write is not None:
            while chunk:
                written = write(chunk)
                chunk = chunk[written if isinstance(written, int) else len(chunk) :]
        size += n
        if progress is not None:
            progress(n)
    return h.hexdigest(), size


if TYPE_CHECKING:  # mypy checks that the class keeps matching the protocol
    _protocol_check: BlobStore = S3BlobStore(None, "b", "", Path("."))
