"""What every use case shares: who is acting, what they may reach, refusals on record."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NoReturn

from custodes.core.authz import (
    Actor,
    CaseFacts,
    Decision,
    EvidenceFacts,
    Permission,
    decide,
)
from custodes.core.custody import Action, AuditEvent
from custodes.core.errors import (
    CustodesError,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ReasonRequired,
)
from custodes.services import audit
from custodes.services.context import Context
from custodes.storage.uow import UnitOfWork


def new_id(prefix: str) -> str:
    """A random, readable identifier such as ``EV-3K7Q2MZX9A1B`` (60 random bits)."""
    return f"{prefix}-" + base64.b32encode(secrets.token_bytes(8)).decode().rstrip("=")[:12]


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(4 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_writable_folder(folder: Path) -> None:
    """Refuse an output folder that does not exist or cannot take a new file, before any
    work starts (a probe file is made and removed: permission bits alone do not tell,
    for root or on read-only and special file systems)."""
    if not folder.is_dir():
        raise InvalidInput(f"no such folder: {folder}")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".custodes-probe-"):
            pass
    except OSError as exc:
        raise InvalidInput(f"cannot write to {folder}: {exc.strerror or exc}") from exc


def check_output_folder(folder: Path, field: str) -> None:
    """Refuse, before any work starts, an output folder that neither is a folder taking
    new files nor can be made as one: it is made (one level, as ``request release --out``
    makes its package folder) only when there is something to write in it
    (:func:`made_output_folder`)."""
    if folder.exists():
        if not folder.is_dir():
            raise InvalidInput(f"{folder} is a file, not a folder", field=field)
        check_writable_folder(folder)
        return
    parent = folder.parent
    if not parent.is_dir():
        raise InvalidInput(
            f"no such folder: {parent} (only the last folder of {{{field}}} is made)",
            field=field,
        )
    check_writable_folder(parent)


@contextlib.contextmanager
def made_output_folder(folder: Path, field: str) -> Iterator[Path]:
    """The output folder ``folder``, made now if it does not exist (its parent must),
    for the block that writes in it; one made here is removed again if the block fails,
    so a failure leaves nothing behind."""
    created = False
    if not folder.is_dir():
        try:
            folder.mkdir()
            created = True
        except FileExistsError:
            if not folder.is_dir():
                raise InvalidInput(f"{folder} is a file, not a folder", field=field) from None
        except OSError as exc:
            raise InvalidInput(
                f"cannot create {folder}: {exc.strerror or exc}", field=field
            ) from exc
    try:
        yield folder
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise


@contextlib.contextmanager
def verified_original(
    vault: Context, evidence_id: str, sha256: str, what: str = "original"
) -> Iterator[Path]:
    """A local file holding an original (or a stored derivative, ``what``) whose bytes
    were just re-hashed and still match ``sha256``, for as long as the context lasts.

    Every copy, redaction and trace reads the original through this: a blob that was
    altered, truncated or lost in the store is refused (IntegrityFailure, NotFound) rather
    than turned into a derivative that claims to come from the recorded original. The
    file is the one the store hashed as it made it (the stored file itself on a local
    disk, a download otherwise), so the bytes used are the bytes checked. Re-reading
    costs about a second per gigabyte, against minutes of decoding and encoding.
    """
    with contextlib.ExitStack() as held:
        try:
            local = held.enter_context(vault.blobs.materialize(sha256))
        except NotFound as exc:
            raise NotFound(
                f"the stored {what} of {evidence_id} is missing", advice="verify the vault"
            ) from exc
        if local.sha256 != sha256:
            raise IntegrityFailure(
                f"the stored {what} of {evidence_id} no longer matches its recorded SHA-256 "
                f"(reads as {local.sha256[:16]}...): refusing to use it",
                advice="verify the vault and restore the blob from a backup",
            )
        yield local.path


def now_iso(vault: Context) -> str:
    return vault.clock.now().isoformat(timespec="microseconds")


def event(
    vault: Context,
    actor: str,
    action: Action | str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    case_number: str | None = None,
    evidence_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, object] | None = None,
) -> AuditEvent:
    return AuditEvent(
        at=now_iso(vault),
        actor=actor,
        action=str(action),
        object_type=object_type,
        object_id=object_id,
        case_number=case_number,
        evidence_id=evidence_id,
        reason=reason,
        client=vault.client,
        details=dict(details or {}),
    )


def refuse(
    vault: Context,
    uow: UnitOfWork,
    actor: str,
    error: CustodesError,
    *,
    action: Action = Action.ACCESS_REFUSED,
    attempted: str,
    case_number: str | None = None,
    evidence_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, object] | None = None,
) -> NoReturn:
    """Roll back what was under way, put the refusal on record, then raise ``error``.

    ``details`` adds to the event what auditors may know but the actor was not told. A
    generic refusal (``access-refused``) of bad input (:class:`InvalidInput`: a mistyped
    value, a malformed file) is recorded as ``input-refused``: it is on the record of what
    it was about, but it is not a refusal of access; refusals of their own kind
    (``ingest-refused``, ``release-refused``) keep it."""
    if action is Action.ACCESS_REFUSED and isinstance(error, InvalidInput):
        action = Action.INPUT_REFUSED
    uow.restart()
    audit.record(
        uow,
        event(
            vault,
            actor,
            action,
            object_type="evidence" if evidence_id else ("case" if case_number else None),
            object_id=evidence_id or case_number,
            case_number=case_number,
            evidence_id=evidence_id,
            reason=reason,
            details={
                **(details or {}),
                "attempted": attempted,
                "error": str(error),
                "code": type(error).__name__,
            },
        ),
    )
    audit.commit(uow, vault)
    raise error


def load_actor(vault: Context, uow: UnitOfWork, username: str | None) -> Actor:
    """The acting user; an unknown or inactive name is refused and recorded."""
    name = (username or "").strip()
    if not name:
        raise PermissionDenied("no acting user ({actor})", field="actor")
    user = uow.users.find(name)
    if user is None or not user.active:
        refuse(
            vault,
            uow,
            name,
            PermissionDenied(f"no active vault user '{name}' ({{actor}})", field="actor"),
            attempted="identify",
        )
    return Actor(user.username, user.role)


def check(
    vault: Context,
    uow: UnitOfWork,
    actor: Actor,
    permission: Permission,
    *,
    case: CaseFacts | None = None,
    evidence: EvidenceFacts | None = None,
    reason: str | None = None,
    refusal_action: Action = Action.ACCESS_REFUSED,
) -> Decision:
    """Ask authorization; a no is recorded in the audit log and raised."""
    decision = decide(actor, permission, case, evidence, reason)
    if decision.allowed:
        return decision
    error: PermissionDenied = (
        ReasonRequired(f"permission denied: {decision.why}", field="reason")
        if decision.reason_required
        else PermissionDenied(f"permission denied: {decision.why}")
    )
    refuse(
        vault,
        uow,
        actor.username,
        error,
        action=refusal_action,
        attempted=permission.value,
        case_number=case.number if case else None,
        evidence_id=evidence.evidence_id if evidence else None,
        reason=reason,
    )
