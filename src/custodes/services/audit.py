"""The audit log writer and reader: append, checkpoint, list, prove.

Events are appended inside the caller's unit of work, so an action and its event
commit or roll back together. After each change a new checkpoint (C2SP
tlog-checkpoint, signed with the vault's Ed25519 key) is stored in the same
transaction and, after commit, published to ``<home>/log/checkpoint``.

What an entry holds (:func:`custodes.core.custody.encode_entry`), how the tree grows
(RFC 6962 compact range) and what is signed are decided here and in the core; the
tables are read and written by ``uow.audit``
(:class:`custodes.storage.repositories.AuditLogRepository`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Connection

from custodes.core import merkle
from custodes.core.checkpoint import Checkpoint, open_note, parse_checkpoint, sign_note, vkey
from custodes.core.custody import AuditEvent, decode_entry, encode_entry
from custodes.core.errors import CustodyConflict, InvalidInput, NotFound
from custodes.core.jsontext import JSONObject, JSONValue, jsonable
from custodes.core.ports import CheckpointStore
from custodes.core.records import LogEntry, LogState
from custodes.services.context import Context
from custodes.storage.repositories import AuditLogRepository
from custodes.storage.uow import UnitOfWork

# ----------------------------------------------------------------------------- writing


def append(uow: UnitOfWork, events: Sequence[AuditEvent]) -> list[int]:
    """Append events in order; returns their sequence numbers."""
    state = uow.audit.load_state(for_update=True)
    rng = state.range()
    prev = state.last_leaf_hash
    entries: list[LogEntry] = []
    for event in events:
        seq = rng.size
        entry = encode_entry(seq, prev, event)
        leaf = merkle.leaf_hash(entry)
        entries.append(
            LogEntry(
                seq=seq,
                at=event.at,
                actor=event.actor,
                action=event.action,
                case_number=event.case_number,
                evidence_id=event.evidence_id,
                entry=entry,
                leaf_hash=leaf,
            )
        )
        rng.append(leaf)
        prev = leaf
    head = LogState(rng.size, rng.to_bytes(), prev, exists=True)
    uow.audit.append(entries, LogState(rng.size, head.compact_range, prev, exists=state.exists))
    if entries:
        uow.log_head = head
    return [e.seq for e in entries]


def record(uow: UnitOfWork, event: AuditEvent) -> int:
    return append(uow, [event])[0]


def sign_checkpoint(uow: UnitOfWork, vault: Context) -> bytes | None:
    """Sign and store a checkpoint of the current log if it grew; returns the note.

    After this unit of work appended, its head (locked) is larger than any checkpoint
    signed before, and is not read again."""
    if uow.log_head is not None:
        rng = uow.log_head.range()
    else:
        rng = uow.audit.load_state().range()
        if rng.size == 0:
            return None
        last = uow.audit.newest_checkpoint_size()
        if last is not None and last >= rng.size:
            return None
    cp = Checkpoint(origin=vault.origin, size=rng.size, root_hash=rng.root())
    note = sign_note(cp.body(), vault.signer)
    uow.audit.add_checkpoint(cp.size, note, vault.clock.now().isoformat())
    return note


def commit(uow: UnitOfWork, vault: Context) -> None:
    """Sign a checkpoint, commit the unit of work, then publish the checkpoint.

    On PostgreSQL the log head's lock is released at the commit, before the disk
    flush, and the commit returns once a flush covers it (:meth:`UnitOfWork.commit`),
    so that concurrent writers wait for each other's work, not for each other's
    flushes; only then is the checkpoint published."""
    note = sign_checkpoint(uow, vault)
    uow.commit()
    if note is not None:
        vault.checkpoints.publish(note)


# ------------------------------------------------------------------------- checkpoints


def public_vkey(vault: Context) -> str:
    return vkey(vault.origin, vault.signer.public_key)


def open_checkpoint(vault: Context, note: bytes) -> Checkpoint:
    """Verify a checkpoint's signature with the vault key and parse it."""
    return parse_checkpoint(open_note(note, public_vkey(vault), vault.verify_signature))


def checkpoint_at(uow: UnitOfWork, size: int) -> bytes:
    """The signed checkpoint of size ``size``; NotFound where none was signed."""
    found = uow.audit.checkpoint_at(size)
    if found is None:
        raise NotFound(f"no signed checkpoint of size {size}")
    return found.note


def published_checkpoint(checkpoints: CheckpointStore) -> bytes:
    """The newest checkpoint the vault published (a signed note), for witnesses and
    auditors; needs no database and no key."""
    note = checkpoints.published()
    if note is None:
        raise InvalidInput(f"no checkpoint at {checkpoints.location}")
    return note


# ----------------------------------------------------------------------------- reading


def leaf_hashes(uow: UnitOfWork, size: int) -> list[bytes]:
    """The first ``size`` leaf hashes, recomputed from the stored entries."""
    hashes = [merkle.leaf_hash(entry) for entry in uow.audit.entries(size)]
    if len(hashes) != size:
        raise NotFound(f"the log holds {len(hashes)} events, fewer than {size}")
    return hashes


def entry_at(uow: UnitOfWork, seq: int) -> bytes:
    entry = uow.audit.entry_at(seq)
    if entry is None:
        raise NotFound(f"no audit event with seq {seq}")
    return entry


@dataclass(frozen=True)
class EventView:
    """One audit event as people read it: the fields are the keys of
    ``custodes audit --json``."""

    seq: int
    at: str
    actor: str
    action: str
    case: str | None
    evidence: str | None
    object_type: str | None
    object_id: str | None
    reason: str | None
    client: str | None
    details: JSONObject
    prev: str
    """The hex leaf hash of the event before it (the hash chain)."""

    @classmethod
    def of_entry(cls, entry: bytes) -> EventView:
        """The event stored as ``entry`` (InvalidInput if it is malformed)."""
        body = decode_entry(entry)
        obj = body.get("object") or {}
        return cls(
            seq=int(body["seq"]),
            at=str(body["at"]),
            actor=str(body["actor"]),
            action=str(body["action"]),
            case=body.get("case"),
            evidence=body.get("evidence"),
            object_type=obj.get("type"),
            object_id=obj.get("id"),
            reason=body.get("reason"),
            client=body.get("client"),
            details=dict(body.get("details") or {}),
            prev=str(body["prev"]),
        )


def read_events(
    uow: UnitOfWork,
    *,
    evidence_id: str | None = None,
    case_number: str | None = None,
    limit: int | None = None,
    hidden_cases: Collection[str] = (),
) -> list[EventView]:
    """Events in seq order (the last ``limit`` of them), leaving out every event of the
    ``hidden_cases`` and of their evidence."""
    return _read(
        uow.audit,
        evidence_id=evidence_id,
        case_number=case_number,
        limit=limit,
        hidden_cases=hidden_cases,
    )


def list_events(
    source: UnitOfWork | Connection,
    *,
    evidence_id: str | None = None,
    case_number: str | None = None,
    limit: int | None = None,
    hidden_cases: Collection[str] = (),
) -> list[JSONObject]:
    """:func:`read_events` as JSON objects (the keys of ``custodes audit --json``), from
    a unit of work or a bare connection: for tests, and callers that keep the log's
    events in a JSON document of their own."""
    log = source.audit if isinstance(source, UnitOfWork) else AuditLogRepository(source)
    views = _read(
        log,
        evidence_id=evidence_id,
        case_number=case_number,
        limit=limit,
        hidden_cases=hidden_cases,
    )
    return [_as_object(v) for v in views]


def _read(
    log: AuditLogRepository,
    *,
    evidence_id: str | None,
    case_number: str | None,
    limit: int | None,
    hidden_cases: Collection[str],
) -> list[EventView]:
    if limit is not None and limit < 1:
        raise InvalidInput(
            f"{{limit}} must be a positive number of events, not {limit}", field="limit"
        )
    entries = log.events(
        evidence_id=evidence_id, case_number=case_number, limit=limit, hidden_cases=hidden_cases
    )
    return [EventView.of_entry(e) for e in entries]


def _as_object(view: EventView) -> JSONObject:
    out: JSONObject = jsonable(view)
    return out


# ------------------------------------------------------------------------ proof files


def check_new_file(path: Path) -> None:
    """Refuse an output path that exists or whose folder is missing or not writable.

    Called before anything is recorded, so that a proof that cannot be written is
    never put on record as issued.
    """
    if path.exists() or path.is_symlink():
        raise CustodyConflict(f"{path} exists; proofs never overwrite a file")
    folder = path.parent
    if not folder.is_dir():
        raise InvalidInput(f"no such folder: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInput(f"cannot write in folder {folder}: permission denied")


def dump_json(value: JSONValue, path: Path) -> None:
    """Write ``value`` as a new JSON file, whole or not at all; never replace a file."""
    data = (json.dumps(value, indent=2) + "\n").encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            with open(tmp, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)  # fails instead of replacing a file that appeared meanwhile
        finally:
            tmp.unlink(missing_ok=True)
    except FileExistsError:
        raise CustodyConflict(f"{path} exists; proofs never overwrite a file") from None
    except FileNotFoundError:
        raise InvalidInput(f"no such folder: {path.parent}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from exc
