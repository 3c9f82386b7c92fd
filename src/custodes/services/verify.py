"""``custodes verify``: every blob re-hashed, the whole audit log re-checked.

Signed checkpoints come from the database and from ``<home>/log/checkpoint``; each
must carry a good signature by the vault key, and the log recomputed from its stored
entries must reproduce every one of them; each column stored beside an entry must say
what the entry says, and the log's running state must be that of the events stored.
The same stream of events is replayed into the state it vouches for, and every row of
the tables that disagrees is named (``services.state``, issue 22); each checkpoint's
unsigned ``created_at`` is held between the signed times around it.
Problems are collected, not raised: the report lists each one. A front door shows the
report, then calls :func:`raise_for_problems` (as httpx's ``raise_for_status``), so that
a failed check leaves through the one error handler like any other error.

Where the blob store has a retention, each original must also hold its compliance-mode
lock for that long from when it was stored (``blob-unlocked`` otherwise); where its case
asks for a legal hold (the ``legal-hold`` flag) and the store can hold objects (S3 Object
Lock), its object must carry the hold (``blob-not-held`` otherwise).

Progress goes to ``ctx.progress``: the audit log counted in events, then the blobs in
bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from custodes.core.authz import Permission
from custodes.core.checkpoint import Checkpoint
from custodes.core.custody import Action, LogVerifier, Problem
from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput, NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import KeptBlob
from custodes.services import audit
from custodes.services.context import Context
from custodes.services.packs import check_packs
from custodes.services.state import StateCheck, check_checkpoint_times
from custodes.services.usecase import acting
from custodes.storage.uow import UnitOfWork


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: ``ok`` when ``problems`` is empty. Each problem is an
    object with its ``kind``, its ``detail``, and the ``seq`` or ``blob`` concerned
    where there is one (:meth:`custodes.core.custody.Problem.to_dict`)."""

    ok: bool
    problems: list[JSONObject]
    events: int
    checkpoints_checked: int
    blobs: int

    @property
    def kinds(self) -> list[str]:
        """The kinds of problem found, sorted, each once."""
        return sorted({str(p["kind"]) for p in self.problems})


def verify_vault(vault: Context, actor_name: str | None, *, blobs: bool = True) -> VerifyReport:
    """Check the whole audit log (and every blob, unless ``blobs`` is False); the
    verification is put on record either way, and a checkpoint is signed only when all
    is well."""
    problems: list[Problem] = []
    # The published checkpoint is read before the database's snapshot is taken: it is
    # published after its commit, so the snapshot holds every event it covers even
    # while other writers append (PostgreSQL).
    published = _read_published(vault)
    with acting(vault, actor_name, readonly=True) as uc:
        uc.allow(Permission.VAULT_VERIFY)
        checkpoints = _load_checkpoints(vault, uc.uow, problems, published)
        state = StateCheck(uc.uow)
        verifier = _check_log(vault, uc.uow, checkpoints, problems, state)
        problems.extend(state.finish())
        problems.extend(check_checkpoint_times(uc.uow, vault.clock.now()))
        problems.extend(check_packs(vault, uc.uow))
        kept = uc.uow.holdings.blobs()
        blob_count = _check_blobs(vault, kept, problems) if blobs else 0
    report = VerifyReport(
        ok=not problems,
        problems=[p.to_dict() for p in problems],
        events=verifier.size,
        checkpoints_checked=verifier.checked_checkpoints,
        blobs=blob_count,
    )
    with acting(vault, actor_name) as uc:
        uc.record(
            Action.VERIFICATION,
            details={
                "ok": report.ok,
                "problems": len(problems),
                "events": report.events,
                "blobs": blob_count,
                "kinds": report.kinds,
            },
        )
        if report.ok:
            uc.commit()
        else:
            uc.commit_unsigned()
    return report


class VerificationFailed(IntegrityFailure):
    """``verify`` found problems; ``problems`` lists them as the report does."""

    def __init__(self, problems: Sequence[JSONObject]) -> None:
        kinds = sorted({str(p["kind"]) for p in problems})
        super().__init__(f"verify found {len(problems)} problem(s): {', '.join(kinds)}")
        self.problems = list(problems)


def raise_for_problems(report: VerifyReport) -> None:
    """Raise :class:`VerificationFailed` if the report of :func:`verify_vault` is not ok."""
    if not report.ok:
        raise VerificationFailed(report.problems)


def _check_log(
    vault: Context,
    uow: UnitOfWork,
    checkpoints: list[Checkpoint],
    problems: list[Problem],
    tables: StateCheck,
) -> LogVerifier:
    """Stream every stored event through the verifier (and the same batches through the
    state check, so that the log is read once), then compare the log's running state
    with what the events add up to."""
    verifier = LogVerifier(checkpoints)
    task = vault.progress.start("audit log", uow.audit.count(), unit="item")
    for batch in uow.audit.iter_batches():
        verifier.feed_many(batch)
        tables.feed_many(batch)
        task.advance(len(batch))
    problems.extend(verifier.finish())
    state = uow.audit.load_state()
    try:
        rng = state.range()
    except CustodesError as exc:
        problems.append(Problem("log-state-mismatch", f"the log's running state: {exc}"))
        return verifier
    if (
        state.size != verifier.size
        or rng.size != verifier.size
        or state.last_leaf_hash != verifier.last_leaf_hash
        or (verifier.size and rng.root() != verifier.root())
    ):
        problems.append(
            Problem(
                "log-state-mismatch",
                f"the log's running state (size {state.size}) does not match the events "
                f"stored (size {verifier.size})",
            )
        )
    return verifier


def _read_published(vault: Context) -> bytes | CustodesError | None:
    try:
        return vault.checkpoints.published()
    except CustodesError as exc:
        return exc


def _load_checkpoints(
    vault: Context,
    uow: UnitOfWork,
    problems: list[Problem],
    published: bytes | CustodesError | None,
) -> list[Checkpoint]:
    found: dict[int, Checkpoint] = {}
    for stored in uow.audit.checkpoints():
        size = stored.size
        try:
            cp = audit.open_checkpoint(vault, stored.note)
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
    if isinstance(published, CustodesError):
        problems.append(Problem("checkpoint-signature", f"{path}: {published}"))
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


def _stored_size(vault: Context, blob: KeptBlob) -> int:
    """The recorded size, else the stored size (for progress only; 0 when it is missing)."""
    if blob.size is not None:
        return blob.size
    try:
        return vault.blobs.size(blob.sha256)
    except (NotFound, InvalidInput):
        return 0


def _check_blobs(vault: Context, kept: Sequence[KeptBlob], problems: list[Problem]) -> int:
    by_hash = {b.sha256: f"{b.what} {b.id}" for b in kept}
    task = vault.progress.start("blobs", sum(_stored_size(vault, b) for b in kept), unit="byte")
    for b in kept:
        name = f"{b.what} {b.id}"
        try:
            actual = vault.blobs.rehash(b.sha256, progress=task.advance)
        except NotFound:
            problems.append(Problem("blob-missing", f"{name}: its blob is missing", blob=b.sha256))
            continue
        except InvalidInput as exc:
            problems.append(Problem("blob-missing", f"{name}: {exc}", blob=b.sha256))
            continue
        if actual == b.sha256:
            _check_lock(vault, b, name, problems)
            continue
        if actual in by_hash:
            problems.append(
                Problem(
                    "blob-swapped",
                    f"{name}: its blob holds the bytes of {by_hash[actual]}",
                    blob=b.sha256,
                )
            )
        else:
            problems.append(Problem("blob-changed", f"{name}: its blob was altered", blob=b.sha256))
    return len(kept)


def _check_lock(vault: Context, b: KeptBlob, name: str, problems: list[Problem]) -> None:
    """An original must be locked for the store's retention, where it has one, and
    carry a legal hold where its case asks for one and the store can hold it."""
    retention = vault.blobs.retention
    if b.what != "evidence" or (retention is None and not b.held):
        return
    lock = vault.blobs.lock_status(b.sha256)
    why = None if retention is None else lock.shortfall(retention)
    if why is not None:
        problems.append(Problem("blob-unlocked", f"{name}: {why}", blob=b.sha256))
    if b.held and lock.enforced and not lock.legal_hold:
        problems.append(
            Problem(
                "blob-not-held",
                f"{name}: its case asks for a legal hold, and its object holds none",
                blob=b.sha256,
            )
        )
