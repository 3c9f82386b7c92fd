"""Creating a vault: its first events (the folder, keys and schema are made by bootstrap)."""

from __future__ import annotations

from custodes.core.authz import Actor, Role
from custodes.core.custody import Action
from custodes.core.ledger import FINGERPRINTS_BOUND
from custodes.services import audit, policy
from custodes.services.common import now_iso
from custodes.services.context import Context
from custodes.services.usecase import UseCase

ADMIN = "admin"
BINDS = (FINGERPRINTS_BOUND,)
"""What this vault's log binds from its first event on (``core.ledger``): rows of an older
vault made before their events were recorded are unvouched, not reported."""


def record_init(ctx: Context, pack_text: bytes, pack_source: str) -> str:
    """Record the vault's creation, its ``admin`` user and the policy pack it starts
    with (its bytes, checked by :func:`policy.check_pack_choice`); return the creation
    time."""
    with ctx.uow() as uow:
        created = uow.users.add(ADMIN, Role.ADMIN, None, now_iso(ctx))
        # The vault's first actor is the admin it makes: there is nobody to identify yet.
        uc = UseCase(ctx, uow, Actor(created.username, created.role))
        uc.record(Action.VAULT_INIT, details={"origin": ctx.origin, "binds": list(BINDS)})
        uc.record(
            Action.USER_ADD,
            object_type="user",
            object_id=ADMIN,
            details={"role": Role.ADMIN.value, "password_digest": None},
        )
        policy.record_first_pack(uc, pack_text, pack_source)
        uc.commit()
    return now_iso(ctx)


def public_vkey(ctx: Context) -> str:
    return audit.public_vkey(ctx)
