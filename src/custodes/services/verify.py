"""``custodes verify``: every blob re-hashed, the whole audit log re-checked.

Signed checkpoints come from the database and from ``<home>/log/checkpoint``; each
must carry a good signature by the vault key, and the log recomputed from its stored
entries must reproduce every one of them. Problems are collected, not raised: the
report lists each one. A front door shows the report, then calls
:func:`raise_for_problems` (as httpx's ``raise_for_status``), so that a failed check
leaves through the one error handler like any other error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from custodes.core.authz import Permission
from custodes.core.checkpoint import Checkpoint
from custodes.core.custody import Action, LogVerifier, Problem
from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput, NotFound
from custodes.services import audit
from custodes.services.common import check, event, load_actor
from custodes.services.context import Context
from custodes.storage import tables as t

ProgressStart = Callable[[str, int], Callable[[int], None]]
"""``start(label, total)`` returns ``advance(n)``."""


def _no_progress(_label: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


def verify_vault(
    vault: Context,
    actor_name: str | None,
    *,
    blobs: bool = True,
    progress: ProgressStart = _no_progress,
) -> dict[str, Any]:
    problems: list[Problem] = []
    with vault.uow(readonly=True) as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.VAULT_VERIFY)
        conn = uow.conn
        checkpoints = _load_checkpoints(vault, conn, problems)
        total = int(conn.execute(select(func.count()).select_from(t.audit_events)).scalar() or 0)
        verifier = LogVerifier(checkpoints)
        advance = progress("audit log", total)
        count = 0
        for batch in audit.iter_batches(conn):
            count += verifier.feed_many(batch)
            advance(len(batch))
        problems.extend(verifier.finish())
        state = audit.load_state(conn)
        if state.size != verifier.size or (verifier.size and state.range.root() != verifier.root()):
            problems.append(
                Problem(
                    "log-state-mismatch",
                    f"the log's running state (size {state.size}) does not match the events "
                    f"stored (size {verifier.size})",
                )
            )
        rows: list[Any] = [
            _Stored(r.id, r.sha256, int(r.size), "evidence")
            for r in conn.execute(
                select(t.evidence.c.id, t.evidence.c.sha256, t.evidence.c.size).order_by(
                    t.evidence.c.id
                )
            )
        ]
        # Redacted copies are kept in the store too (a release may use them): check them.
        rows += [
            _Stored(r.id, r.sha256, _stored_size(vault, r.sha256), "redacted copy")
            for r in conn.execute(
                select(t.derivatives.c.id, t.derivatives.c.sha256).order_by(t.derivatives.c.id)
            )
        ]
        blob_count = 0
        if blobs:
            blob_count = _check_blobs(vault, rows, problems, progress)
    ok = not problems
    summary = {
        "ok": ok,
        "problems": [p.to_dict() for p in problems],
        "events": verifier.size,
        "checkpoints_checked": verifier.checked_checkpoints,
        "blobs": blob_count,
    }
    with vault.uow() as uow:
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.VERIFICATION,
                details={
                    "ok": ok,
                    "problems": len(problems),
                    "events": verifier.size,
                    "blobs": blob_count,
                    "kinds": sorted({p.kind for p in problems}),
                },
            ),
        )
        if ok:
            audit.commit(uow, vault)
        else:
            # Record the failed verification, but sign nothing over a log that failed.
            uow.commit()
    return summary


class VerificationFailed(IntegrityFailure):
    """``verify`` found problems; ``problems`` lists them as the report does."""

    def __init__(self, problems: Sequence[dict[str, Any]]) -> None:
        kinds = sorted({str(p["kind"]) for p in problems})
        super().__init__(f"verify found {len(problems)} problem(s): {', '.join(kinds)}")
        self.problems = list(problems)


def raise_for_problems(report: dict[str, Any]) -> None:
    """Raise :class:`VerificationFailed` if the report of :func:`verify_vault` is not ok."""
    if not report["ok"]:
        raise VerificationFailed(report["problems"])


def _load_checkpoints(vault: Context, conn: Any, problems: list[Problem]) -> list[Checkpoint]:
    found: dict[int, Checkpoint] = {}
    for size, note in conn.execute(
        select(t.checkpoints.c.size, t.checkpoints.c.note).order_by(t.checkpoints.c.size)
    ):
        try:
            cp = audit.open_checkpoint(vault, str(note).encode())
        except CustodesError as exc:
            problems.append(Problem("checkpoint-signature", f"stored checkpoint {size}: {exc}"))
            continue
        if cp.size != size or cp.origin != vault.origin:
            problems.append(
                Problem("checkpoint-mismatch", f"stored checkpoint {size} names size {cp.size}")
            )
            continue
        found[cp.size] = cp
    path = vault.checkpoints.location
    try:
        published = vault.checkpoints.published()
    except CustodesError as exc:
        problems.append(Problem("checkpoint-signature", f"{path}: {exc}"))
        return list(found.values())
    if published is not None:
        try:
            cp = audit.open_checkpoint(vault, published)
        except CustodesError as exc:
            problems.append(Problem("checkpoint-signature", f"{path}: {exc}"))
        else:
            known = found.get(cp.size)
            if known is not None and known.root_hash != cp.root_hash:
                problems.append(
                    Problem(
                        "checkpoint-mismatch",
                        f"{path} and the database disagree on the root at size {cp.size}",
                    )
                )
            found.setdefault(cp.size, cp)
    elif found:
        problems.append(Problem("checkpoint-missing", f"{path} is missing"))
    return list(found.values())


@dataclass(frozen=True)
class _Stored:
    """A blob the vault keeps: an original or a redacted copy, by its recorded hash."""

    id: str
    sha256: str
    size: int
    what: str


def _stored_size(vault: Context, sha256: str) -> int:
    """The stored size (for the progress bar only; 0 when it is missing)."""
    try:
        return vault.blobs.size(sha256)
    except (NotFound, InvalidInput):
        return 0


def _check_blobs(
    vault: Context,
    rows: Sequence[_Stored],
    problems: list[Problem],
    progress: ProgressStart,
) -> int:
    by_hash = {r.sha256: f"{r.what} {r.id}" for r in rows}
    advance = progress("blobs", sum(r.size for r in rows))
    for r in rows:
        name = f"{r.what} {r.id}"
        try:
            actual = vault.blobs.rehash(r.sha256, progress=advance)
        except NotFound:
            problems.append(Problem("blob-missing", f"{name}: its blob is missing", blob=r.sha256))
            continue
        except InvalidInput as exc:
            problems.append(Problem("blob-missing", f"{name}: {exc}", blob=r.sha256))
            continue
        if actual == r.sha256:
            continue
        if actual in by_hash:
            problems.append(
                Problem(
                    "blob-swapped",
                    f"{name}: its blob holds the bytes of {by_hash[actual]}",
                    blob=r.sha256,
                )
            )
        else:
            problems.append(Problem("blob-changed", f"{name}: its blob was altered", blob=r.sha256))
    return len(rows)
