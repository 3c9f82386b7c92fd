"""Creating a vault: its first events (the folder, keys and schema are made by bootstrap)."""

from __future__ import annotations

from sqlalchemy import insert

from custodes.core.authz import Role
from custodes.core.custody import Action
from custodes.services import audit
from custodes.services.common import event, now_iso
from custodes.services.context import Context
from custodes.storage import tables as t

ADMIN = "admin"


def record_init(ctx: Context) -> str:
    """Record the vault's creation and its ``admin`` user; return the creation time."""
    with ctx.uow() as uow:
        uow.conn.execute(
            insert(t.users).values(
                username=ADMIN, role=Role.ADMIN.value, active=True, created_at=now_iso(ctx)
            )
        )
        audit.append(
            uow,
            [
                event(ctx, ADMIN, Action.VAULT_INIT, details={"origin": ctx.origin}),
                event(
                    ctx,
                    ADMIN,
                    Action.USER_ADD,
                    object_type="user",
                    object_id=ADMIN,
                    details={"role": Role.ADMIN.value},
                ),
            ],
        )
        audit.commit(uow, ctx)
    return now_iso(ctx)


def public_vkey(ctx: Context) -> str:
    return audit.public_vkey(ctx)
