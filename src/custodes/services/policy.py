"""The policy pack in force: shown to anyone, changed only by an admin, on record.

``set_policy`` reads and validates the new pack, keeps its bytes in the blob store by
their SHA-256, records a ``policy-set`` event that names that hash (with the pack's name
and version, the file it came from, the pack it replaces and the admin's reason), and
re-reviews every open request under it in the same transaction
(:mod:`custodes.services.requests.rereview`). A vault's first pack is set the same way by
``custodes init`` (:func:`record_first_pack`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from custodes.core.authz import Permission
from custodes.core.custody import Action
from custodes.core.disclosure.pack import PolicyPack
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput
from custodes.core.ledger import PackSetting
from custodes.core.ports import PolicySource
from custodes.services.context import Context
from custodes.services.packs import (
    PackInForce,
    current_setting,
    describe,
    keep_pack,
    kept_pack,
    settings,
)
from custodes.services.requests.facts import today
from custodes.services.requests.rereview import Rereview, rereview_open_requests
from custodes.services.usecase import UseCase, acting


@dataclass(frozen=True)
class PolicySet:
    """A pack put in force, and the open requests re-reviewed under it."""

    pack: PackInForce
    rereviewed: int
    """How many open requests were re-evaluated under the new pack."""
    needs_review: list[str]
    """The requests a records user must decide again (alerted to records)."""


def show_policy(ctx: Context, actor_name: str | None) -> PackInForce:
    """The pack in force, checked against the hash its signed event names. Any vault user
    may see it: it is the written policy every decision cites."""
    with acting(ctx, actor_name, readonly=True) as uc:
        setting = current_setting(uc.uow)
        return describe(kept_pack(ctx, setting), setting)


def policy_history(ctx: Context, actor_name: str | None) -> list[PackInForce]:
    """Every pack the vault has had in force, oldest first."""
    with acting(ctx, actor_name, readonly=True) as uc:
        return [describe(kept_pack(ctx, s), s) for s in settings(uc.uow)]


def _read(reader: PolicySource, choice: str, on: date) -> tuple[bytes, PolicyPack]:
    """A pack chosen by name or file, validated, and in force on ``on`` (a pack that has
    expired or not yet taken effect could decide nothing)."""
    if not choice.strip():
        raise InvalidInput("name a built-in pack or a pack file", field="pack")
    text, source = reader.read(choice)
    pack = reader.parse(text, source_name=source)
    pack.check_in_force(on)
    return text, pack


def check_pack_choice(reader: PolicySource, choice: str, on: date) -> tuple[bytes, str]:
    """For ``init``: the chosen pack's bytes and source name, checked before anything is
    made (InvalidInput, NotFound)."""
    text, pack = _read(reader, choice, on)
    return text, pack.source_name


def _record(
    uc: UseCase, text: bytes, pack: PolicyPack, reason: str, previous: PackSetting | None
) -> None:
    """Keep the pack's bytes, then record the ``policy-set`` event that names them."""
    keep_pack(uc.ctx, text)
    uc.record(
        Action.POLICY_SET,
        object_type="policy-pack",
        object_id=pack.sha256,
        reason=reason,
        details={
            "name": pack.name,
            "version": pack.version,
            "jurisdiction": pack.jurisdiction,
            "sha256": pack.sha256,
            "size": len(text),
            "source": pack.source_name,
            "effective_from": pack.effective_from.isoformat(),
            "expires": pack.expires.isoformat(),
            "previous_sha256": None if previous is None else previous.sha256,
        },
    )


def record_first_pack(uc: UseCase, text: bytes, source: str) -> None:
    """Put a new vault's first pack in force (inside ``init``'s first transaction)."""
    pack = uc.ctx.policy.parse(text, source_name=source)
    _record(uc, text, pack, "the pack the vault was created with", None)


def set_policy(ctx: Context, actor_name: str | None, choice: str, reason: str) -> PolicySet:
    """Put the pack ``choice`` (a built-in pack's name, or a pack file) in force: an
    admin's act, on record with ``reason``; every open request is re-reviewed under it."""
    with acting(ctx, actor_name) as uc:
        uc.allow(Permission.POLICY_SET)
        why = " ".join((reason or "").split())
        if not why:
            raise InvalidInput("changing the policy pack needs a written {reason}", field="reason")
        text, pack = _read(ctx.policy, choice, today(ctx))
        previous: PackSetting | None
        old: PolicyPack | None
        try:
            previous = current_setting(uc.uow)
        except CustodyConflict:
            previous, old = None, None  # a vault made before the pack was on its log
        else:
            if previous.sha256 == pack.sha256:
                raise CustodyConflict(
                    f"the pack '{pack.name}' {pack.version} ({pack.sha256[:12]}…) is already "
                    "in force; nothing changed"
                )
            try:
                old = kept_pack(ctx, previous)
            except CustodesError:
                old = None  # the old pack's proposals are unknown; the decisions stand
        _record(uc, text, pack, why, previous)
        setting = current_setting(uc.uow)  # the event just recorded, as the log reads it
        reviewed: list[Rereview] = rereview_open_requests(uc, old, pack)
        uc.commit()
    return PolicySet(
        pack=describe(pack, setting),
        rereviewed=len(reviewed),
        needs_review=[r.request_id for r in reviewed if r.needs_review],
    )
