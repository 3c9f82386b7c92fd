"""The audit log writer and reader: append, checkpoint, list, prove.

Events are appended inside the caller's unit of work, so an action and its event
commit or roll back together. After each change a new checkpoint (C2SP
tlog-checkpoint, signed with the vault's Ed25519 key) is stored in the same
transaction and, after commit, published to ``<home>/log/checkpoint``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection

from custodes.core import merkle
from custodes.core.checkpoint import Checkpoint, open_note, parse_checkpoint, sign_note, vkey
from custodes.core.custody import GENESIS_HASH, AuditEvent, decode_entry, encode_entry
from custodes.core.errors import CustodyConflict, InvalidInput, NotFound
from custodes.core.ports import CheckpointStore
from custodes.services.context import Context
from custodes.storage import tables as t
from custodes.storage.uow import UnitOfWork


@dataclass
class LogState:
    range: merkle.CompactRange
    last_leaf_hash: bytes
    exists: bool

    @property
    def size(self) -> int:
        return self.range.size


def load_state(conn: Connection, *, for_update: bool = False) -> LogState:
    query = select(t.log_state).where(t.log_state.c.id == 1)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return LogState(merkle.CompactRange(), GENESIS_HASH, exists=False)
    return LogState(
        merkle.CompactRange.from_bytes(row.compact_range),
        row.last_leaf_hash or GENESIS_HASH,
        exists=True,
    )


def append(uow: UnitOfWork, events: Sequence[AuditEvent]) -> list[int]:
    """Append events in order; returns their sequence numbers."""
    conn = uow.conn
    state = load_state(conn, for_update=True)
    rows: list[dict[str, Any]] = []
    seqs: list[int] = []
    prev = state.last_leaf_hash
    rng = state.range
    for event in events:
        seq = rng.size
        entry = encode_entry(seq, prev, event)
        leaf = merkle.leaf_hash(entry)
        rows.append(
            {
                "seq": seq,
                "at": event.at,
                "actor": event.actor,
                "action": event.action,
                "case_number": event.case_number,
                "evidence_id": event.evidence_id,
                "entry": entry,
                "leaf_hash": leaf,
            }
        )
        rng.append(leaf)
        prev = leaf
        seqs.append(seq)
    if not rows:
        return seqs
    conn.execute(insert(t.audit_events), rows)
    values = {"size": rng.size, "compact_range": rng.to_bytes(), "last_leaf_hash": prev}
    if state.exists:
        conn.execute(update(t.log_state).where(t.log_state.c.id == 1).values(**values))
    else:
        conn.execute(insert(t.log_state).values(id=1, **values))
    return seqs


def record(uow: UnitOfWork, event: AuditEvent) -> int:
    return append(uow, [event])[0]


def sign_checkpoint(uow: UnitOfWork, vault: Context) -> bytes | None:
    """Sign and store a checkpoint of the current log if it grew; returns the note."""
    conn = uow.conn
    state = load_state(conn)
    if state.size == 0:
        return None
    last = conn.execute(select(func.max(t.checkpoints.c.size))).scalar()
    if last is not None and last >= state.size:
        return None
    cp = Checkpoint(origin=vault.origin, size=state.size, root_hash=state.range.root())
    note = sign_note(cp.body(), vault.signer)
    conn.execute(
        insert(t.checkpoints).values(
            size=cp.size, note=note.decode(), created_at=vault.clock.now().isoformat()
        )
    )
    return note


def commit(uow: UnitOfWork, vault: Context) -> None:
    """Sign a checkpoint, commit the unit of work, then publish the checkpoint."""
    note = sign_checkpoint(uow, vault)
    uow.commit()
    if note is not None:
        vault.checkpoints.publish(note)


def public_vkey(vault: Context) -> str:
    return vkey(vault.origin, vault.signer.public_key)


def open_checkpoint(vault: Context, note: bytes) -> Checkpoint:
    """Verify a checkpoint's signature with the vault key and parse it."""
    return parse_checkpoint(open_note(note, public_vkey(vault), vault.verify_signature))


def latest_checkpoint(conn: Connection) -> tuple[int, bytes] | None:
    row = conn.execute(
        select(t.checkpoints.c.size, t.checkpoints.c.note)
        .order_by(t.checkpoints.c.size.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row.size), row.note.encode())


def checkpoint_at(conn: Connection, size: int) -> bytes:
    note = conn.execute(select(t.checkpoints.c.note).where(t.checkpoints.c.size == size)).scalar()
    if note is None:
        raise NotFound(f"no signed checkpoint of size {size}")
    return str(note).encode()


def leaf_hashes(conn: Connection, size: int) -> list[bytes]:
    """The first ``size`` leaf hashes, recomputed from the stored entries."""
    result = conn.execute(
        select(t.audit_events.c.entry)
        .where(t.audit_events.c.seq < size)
        .order_by(t.audit_events.c.seq)
    ).scalars()
    hashes = [merkle.leaf_hash(bytes(entry)) for entry in result]
    if len(hashes) != size:
        raise NotFound(f"the log holds {len(hashes)} events, fewer than {size}")
    return hashes


def entry_at(conn: Connection, seq: int) -> bytes:
    entry = conn.execute(select(t.audit_events.c.entry).where(t.audit_events.c.seq == seq)).scalar()
    if entry is None:
        raise NotFound(f"no audit event with seq {seq}")
    return bytes(entry)


def iter_batches(conn: Connection, batch: int = 20_000) -> Iterator[Sequence[Any]]:
    """Every stored event row as plain tuples, in seq order, in batches.

    Uses the driver's cursor directly (a server-side cursor on PostgreSQL), because
    ``custodes verify`` reads every event and row objects would double its cost.
    """
    sql = (
        "SELECT seq, entry, leaf_hash, actor, action, case_number, evidence_id "
        "FROM audit_events ORDER BY seq"
    )
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name="custodes_verify")  # type: ignore[union-attr]
    else:
        cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        while True:
            rows = cursor.fetchmany(batch)
            if not rows:
                break
            yield rows
    finally:
        cursor.close()


def list_events(
    conn: Connection,
    *,
    evidence_id: str | None = None,
    case_number: str | None = None,
    limit: int | None = None,
    hidden_cases: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Events in seq order (the last ``limit`` of them), leaving out every event of the
    ``hidden_cases`` and of their evidence."""
    if limit is not None and limit < 1:
        raise InvalidInput(
            f"{{limit}} must be a positive number of events, not {limit}", field="limit"
        )
    ev = t.audit_events.c
    query = select(ev.entry).order_by(ev.seq)
    if evidence_id is not None:
        query = query.where(ev.evidence_id == evidence_id)
    if case_number is not None:
        query = query.where(ev.case_number == case_number)
    if hidden_cases:
        hidden = sorted(hidden_cases)
        hidden_evidence = (
            select(t.evidence.c.id)
            .join(t.cases, t.cases.c.id == t.evidence.c.case_id)
            .where(t.cases.c.number.in_(hidden))
        )
        query = query.where(
            or_(ev.case_number.is_(None), ev.case_number.not_in(hidden)),
            or_(ev.evidence_id.is_(None), ev.evidence_id.not_in(hidden_evidence)),
        )
    if limit is not None:
        query = query.order_by(None).order_by(ev.seq.desc()).limit(limit)
    out = [_public(decode_entry(bytes(e))) for e in conn.execute(query).scalars()]
    out.sort(key=lambda e: int(e["seq"]))
    return out


def published_checkpoint(checkpoints: CheckpointStore) -> bytes:
    """The newest checkpoint the vault published (a signed note), for witnesses and
    auditors; needs no database and no key."""
    note = checkpoints.published()
    if note is None:
        raise InvalidInput(f"no checkpoint at {checkpoints.location}")
    return note


def _public(body: dict[str, Any]) -> dict[str, Any]:
    obj = body.get("object") or {}
    return {
        "seq": body["seq"],
        "at": body["at"],
        "actor": body["actor"],
        "action": body["action"],
        "case": body.get("case"),
        "evidence": body.get("evidence"),
        "object_type": obj.get("type"),
        "object_id": obj.get("id"),
        "reason": body.get("reason"),
        "client": body.get("client"),
        "details": body.get("details", {}),
        "prev": body["prev"],
    }


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


def dump_json(value: Any, path: Path) -> None:
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
