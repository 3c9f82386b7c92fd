"""The policy pack in force, as the vault's signed log names it (issue 22).

The pack in force is a setting of the vault, not of a command: the latest signed
``policy-set`` event names it by its SHA-256 (and its name and version), and its bytes
are kept in the blob store under that hash. Reading it is: that event, then those bytes,
then their hash; bytes that are missing or hash otherwise are refused (IntegrityFailure),
so what decides a request cannot change under the vault. Setting it is an admin's act
(``services.policy``); a vault starts with the pack ``custodes init`` chose.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from custodes.core.custody import Action, Problem, decode_entry
from custodes.core.disclosure.pack import PolicyPack
from custodes.core.errors import CustodyConflict, IntegrityFailure, InvalidInput, NotFound
from custodes.core.ledger import PackSetting, pack_history
from custodes.services.context import Context
from custodes.storage.uow import UnitOfWork

#: The most bytes a kept pack is read to (a pack file is at most 1 MB).
_MAX_KEPT = 2_000_000

POLICY_ACTIONS = frozenset({str(Action.POLICY_SET)})


@dataclass(frozen=True)
class PackInForce:
    """The pack the vault decides by, and the signed event that put it in force."""

    name: str
    version: str
    jurisdiction: str
    sha256: str
    source: str
    """The file it was read from when it was set (``colorado.yaml``)."""
    effective_from: str
    expires: str
    since: str
    """When it was put in force (the event's time)."""
    set_by: str
    reason: str | None
    seq: int
    """The ``policy-set`` event that put it in force."""
    previous_sha256: str | None


def settings(uow: UnitOfWork) -> list[PackSetting]:
    """Every pack the vault has had in force, oldest first (malformed events left out:
    ``verify`` names them)."""
    entries = []
    for raw in uow.audit.fact_entries(POLICY_ACTIONS):
        try:
            entries.append(decode_entry(raw))
        except InvalidInput:
            continue
    return pack_history(entries)[0]


def current_setting(uow: UnitOfWork) -> PackSetting:
    """The latest signed pack setting; CustodyConflict where the log names none (a vault
    made before the pack was a vault setting)."""
    history = settings(uow)
    if not history:
        raise CustodyConflict(
            "the vault's signed log names no policy pack in force",
            advice="an admin puts one in force, with a reason: custodes policy set NAME|FILE",
        )
    return history[-1]


def kept_pack(ctx: Context, setting: PackSetting) -> PolicyPack:
    """The pack of ``setting`` from the bytes the vault keeps, checked against the hash
    its signed event names (IntegrityFailure when they are missing or differ)."""
    what = f"policy pack '{setting.name}' {setting.version} ({setting.sha256[:12]}…)"
    try:
        with ctx.blobs.open(setting.sha256) as fh:
            text = fh.read(_MAX_KEPT + 1)
    except NotFound:
        raise IntegrityFailure(
            f"the kept bytes of the {what} in force since {setting.at} are missing",
            advice="restore the blob from a backup and verify the vault",
        ) from None
    actual = hashlib.sha256(text).hexdigest()
    if actual != setting.sha256:
        raise IntegrityFailure(
            f"the kept bytes of the {what} no longer match the SHA-256 its signed event "
            f"names (they read as {actual[:12]}…): refusing to decide by them",
            advice="restore the blob from a backup and verify the vault",
        )
    return ctx.policy.parse(text, source_name=setting.source)


def pack_in_force(ctx: Context, uow: UnitOfWork) -> PolicyPack:
    """The pack the vault decides by now (see the module's docstring)."""
    return kept_pack(ctx, current_setting(uow))


def pack_by_sha256(ctx: Context, uow: UnitOfWork, sha256: str) -> PolicyPack | None:
    """The pack with this hash, if the vault ever had it in force (else None)."""
    for setting in reversed(settings(uow)):
        if setting.sha256 == sha256:
            return kept_pack(ctx, setting)
    return None


def keep_pack(ctx: Context, text: bytes) -> None:
    """Store a pack's bytes in the blob store under their SHA-256 (an identical copy is
    kept once). Called before the event that names them is committed: bytes without an
    event are an orphan, never a pack in force."""
    staged = ctx.blobs.stage(io.BytesIO(text))
    try:
        ctx.blobs.commit(staged)
    except BaseException:
        ctx.blobs.discard(staged)
        raise


def describe(pack: PolicyPack, setting: PackSetting) -> PackInForce:
    return PackInForce(
        name=pack.name,
        version=pack.version,
        jurisdiction=pack.jurisdiction,
        sha256=setting.sha256,
        source=setting.source,
        effective_from=pack.effective_from.isoformat(),
        expires=pack.expires.isoformat(),
        since=setting.at,
        set_by=setting.actor,
        reason=setting.reason,
        seq=setting.seq,
        previous_sha256=setting.previous_sha256,
    )


def check_packs(ctx: Context, uow: UnitOfWork) -> list[Problem]:
    """For ``verify``: every pack the log ever put in force is kept, byte for byte, and
    the log names one."""
    entries = []
    for raw in uow.audit.fact_entries(POLICY_ACTIONS):
        try:
            entries.append(decode_entry(raw))
        except InvalidInput:
            continue  # the log check names a malformed entry
    history, problems = pack_history(entries)
    if not history:
        problems.append(
            Problem("policy-pack-unset", "the signed log names no policy pack in force")
        )
    seen: set[str] = set()
    for setting in history:
        if setting.sha256 in seen:
            continue
        seen.add(setting.sha256)
        what = f"policy pack '{setting.name}' {setting.version} (event {setting.seq})"
        try:
            actual = ctx.blobs.rehash(setting.sha256)
        except (NotFound, InvalidInput):
            problems.append(
                Problem(
                    "policy-pack-missing",
                    f"{what}: its kept bytes are missing",
                    setting.seq,
                    blob=setting.sha256,
                )
            )
            continue
        if actual != setting.sha256:
            problems.append(
                Problem(
                    "policy-pack-changed",
                    f"{what}: its kept bytes were altered",
                    setting.seq,
                    blob=setting.sha256,
                )
            )
    return problems
