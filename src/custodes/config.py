"""Typed settings, read from the environment (``CUSTODES_*``) and built once in ``bootstrap``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from custodes.core.errors import InvalidInput

_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_S3_URL = re.compile(r"s3://([^/?#]*)/*([^?#]*)", re.IGNORECASE)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_URL_FORMS = "a path, file:// or s3://BUCKET/PREFIX URL"


@dataclass(frozen=True)
class S3Location:
    """Where an S3 blob store keeps its objects: a bucket, and a key prefix in it."""

    bucket: str
    prefix: str  # without leading or trailing slashes; "" for the whole bucket


class Settings(BaseSettings):
    """Where the vault lives and which backends it uses.

    The defaults (a SQLite file and a blob folder inside ``home``) need no server.
    """

    model_config = SettingsConfigDict(env_prefix="CUSTODES_", extra="ignore")

    home: Path = Field(default=Path("custodes-data"))
    database_url: str | None = None
    # The PostgreSQL connection pool of each process (SQLAlchemy QueuePool): connections
    # kept open, extra ones allowed under load, seconds to wait for one, and the age in
    # seconds after which a connection is replaced (-1: never). Size it so that every
    # process together stays under the server's max_connections.
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=30.0, gt=0)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    blob_url: str | None = None
    # An S3 blob store (CUSTODES_BLOB_URL=s3://bucket/prefix): the endpoint of an
    # S3-compatible server (unset: AWS, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL), its
    # region (unset: AWS_REGION / AWS_DEFAULT_REGION) and URL style; credentials come
    # from the standard AWS variables or profile, never from here.
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Days an original is kept under S3 Object Lock in compliance mode from when it is
    # stored (nobody, not even the bucket's administrator, may delete or overwrite it
    # before then). Unset: no lock. Needs the S3 blob store, on a bucket with Object Lock.
    retention_days: int | None = Field(default=None, ge=1)
    # The local folder where a remote blob store stages uploads and downloads what a
    # reader needs as a file (unset: HOME/blob-scratch).
    blob_scratch: Path | None = None
    broker_url: str | None = None
    user: str | None = None
    agency: str = "Police Department"  # the name letters are signed with
    # The department's C2PA signing certificate chain and key (PEM files), and the roots
    # a reader should trust; unset: the vault makes its own (storage/credentials.py).
    c2pa_cert: Path | None = None
    c2pa_key: Path | None = None
    c2pa_trust_anchors: Path | None = None
    # Where people reach `custodes serve` (https://vault.example.org), when a proxy in front
    # terminates TLS: the origin unsafe requests must come from (CSRF) and the one that
    # turns on HSTS. Unset: the origin each request reached.
    public_origin: str | None = None
    # The web server's logs on stderr: "text", or "json" (one JSON object a line, with
    # the request id that each response also carries as X-Request-ID).
    log_format: Literal["text", "json"] = "text"
    # The bearer token a Prometheus scrape of /metrics must send; unset: /metrics is off.
    metrics_token: str | None = Field(default=None, min_length=16)
    # Where jobs run (docs/workers.md): "in-process" (the jobs table is the queue, run by
    # `custodes serve`'s background thread) or "procrastinate" (worker processes,
    # `custodes worker`, on PostgreSQL). Unset: procrastinate on a PostgreSQL database,
    # in-process on SQLite.
    jobs: Literal["in-process", "procrastinate"] | None = None
    # The folder where copies made by jobs (an export asked for on the API) are written,
    # shared by every worker (unset: HOME/exports).
    export_dir: Path | None = None
    # The proxies in front of `custodes serve` whose X-Forwarded-For is believed: addresses
    # or networks, comma-separated (10.0.0.5, 10.1.0.0/16, ::1). Unset: none, and the
    # address on the audit log is the connection's.
    trusted_proxies: str = ""
    # An export longer than this many seconds is rendered in segments of about this
    # length, cut at the source's keyframes, and joined without re-encoding the picture
    # (docs/workers.md, "Segment-parallel export"); 0, the default, keeps every export one
    # render: until segments are jobs of their own that several workers share, cutting
    # gains no speed and re-encodes each part's first frames afresh.
    segment_seconds: float = Field(default=0.0, ge=0)
    # Resumable uploads on the API (tus, docs/web.md): the folder where partial uploads
    # are kept until they become evidence (unset: HOME/uploads; local disk, also for an S3
    # vault), the largest upload accepted, how many unfinished uploads one user may hold,
    # and how long an upload left untouched is kept before it is swept.
    upload_dir: Path | None = None
    upload_max_size: int = Field(default=64 * 1024**3, ge=1)
    upload_max_open: int = Field(default=5, ge=1)
    upload_expiry_hours: float = Field(default=24.0, gt=0)
    # Single sign-on with the department's OpenID Connect provider (docs/security.md,
    # "Single sign-on"): its issuer URL (discovery at ISSUER/.well-known/openid-configuration;
    # https, or http on loopback), the client custodes is registered as, and the client
    # secret's file (read once at start; the secret never sits in the environment or the
    # repository). Unset issuer: no single sign-on, no button. The person is found by the
    # ID token's USERNAME_CLAIM in custodes' own users (never created); the role is
    # custodes'. TRUST_MFA: a token whose ``amr`` asserts multi-factor authentication
    # stands for custodes' second factor; otherwise (and by default) custodes asks its own.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret_file: Path | None = None
    oidc_username_claim: str = "preferred_username"
    oidc_trust_mfa: bool = False
    # The provider's name on the sign-in button ("Sign in with NAME"); unset: its host.
    oidc_name: str | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'vault.db').resolve()}"

    @property
    def blob_location(self) -> Path | S3Location:
        """The local blob folder, or the bucket and prefix of an S3 blob store.

        Other URL schemes are refused (InvalidInput)."""
        url = self.blob_url
        if not url:
            return self.home / "blobs"
        if url.startswith("file://"):
            return Path(url.removeprefix("file://"))
        scheme = _URL_SCHEME.match(url)
        if scheme is not None and scheme.group(1).lower() == "file":  # file:/path
            return Path(url[len("file:") :])
        if scheme is not None and scheme.group(1).lower() == "s3":
            return _s3_location(url)
        if scheme is not None and len(scheme.group(1)) > 1:  # not a drive letter (C:)
            raise InvalidInput(
                f"unsupported blob URL scheme '{scheme.group(1)}' ({_URL_FORMS})",
                advice="set CUSTODES_BLOB_URL to a folder or to an s3:// URL",
            )
        return Path(url)

    @property
    def blob_root(self) -> Path:
        """The local blob folder; InvalidInput when the blobs are kept elsewhere."""
        where = self.blob_location
        if isinstance(where, S3Location):
            raise InvalidInput(f"the blob store is in S3 (s3://{where.bucket}), not a folder")
        return where

    @property
    def job_engine(self) -> str:
        """The engine jobs run on; InvalidInput for Procrastinate without PostgreSQL."""
        postgres = self.resolved_database_url.startswith("postgresql")
        engine = self.jobs or ("procrastinate" if postgres else "in-process")
        if engine == "procrastinate" and not postgres:
            raise InvalidInput(
                "CUSTODES_JOBS=procrastinate needs a PostgreSQL database "
                "(CUSTODES_DATABASE_URL); the embedded vault runs jobs in-process",
            )
        return engine

    @property
    def resolved_export_dir(self) -> Path:
        return self.export_dir or self.home / "exports"

    @property
    def resolved_blob_scratch(self) -> Path:
        return self.blob_scratch or self.home / "blob-scratch"


def _s3_location(url: str) -> S3Location:
    m = _S3_URL.fullmatch(url)
    if m is None or not m.group(1):
        raise InvalidInput(
            f"malformed S3 blob URL {url!r}", advice="write it as s3://BUCKET or s3://BUCKET/PREFIX"
        )
    bucket, prefix = m.group(1), m.group(2).strip("/")
    if _BUCKET.fullmatch(bucket) is None or ".." in bucket:
        raise InvalidInput(
            f"not an S3 bucket name: {bucket!r}",
            advice="3 to 63 lowercase letters, digits, dots and hyphens",
        )
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise InvalidInput(f"malformed key prefix in S3 blob URL {url!r}")
    return S3Location(bucket=bucket, prefix=prefix)
