"""Creating a vault."""

from __future__ import annotations

import json
import os
import secrets

from sqlalchemy import insert

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.authz import Role
from custodes.core.custody import Action
from custodes.core.errors import BackendUnavailable, CustodyConflict
from custodes.services import audit
from custodes.services.common import event, now_iso
from custodes.storage import migrations
from custodes.storage import tables as t
from custodes.storage.db import check_database_url, translate_errors

ADMIN = "admin"


def init_vault(settings: Settings) -> bootstrap.Vault:
    """Create the vault folder, the signing key, the schema and the ``admin`` user.

    The vault file is written last: a vault without one was never finished.
    """
    home = settings.home
    if (home / bootstrap.VAULT_FILE).exists():
        raise CustodyConflict(f"a vault already exists at {home}")
    # Refuse unusable settings before anything is made.
    _ = settings.blob_root
    check_database_url(settings.resolved_database_url)
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendUnavailable(f"cannot create {home}: {exc.strerror}") from exc
    origin = f"custodes.vault/{secrets.token_hex(8)}"
    vault = bootstrap.open_vault(settings, origin=origin)
    with translate_errors():
        migrations.upgrade(vault.engine)
    _ = vault.signer  # creates the key file (mode 0600)
    _ = vault.watermark_secret  # and the watermark secret (mode 0600)
    with vault.uow() as uow:
        uow.conn.execute(
            insert(t.users).values(
                username=ADMIN, role=Role.ADMIN.value, active=True, created_at=now_iso(vault)
            )
        )
        audit.append(
            uow,
            [
                event(vault, ADMIN, Action.VAULT_INIT, details={"origin": origin}),
                event(
                    vault,
                    ADMIN,
                    Action.USER_ADD,
                    object_type="user",
                    object_id=ADMIN,
                    details={"role": Role.ADMIN.value},
                ),
            ],
        )
        audit.commit(uow, vault)
    vault_file = home / bootstrap.VAULT_FILE
    tmp = vault_file.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"origin": origin, "created_at": now_iso(vault), "vkey": audit.public_vkey(vault)},
            indent=2,
        )
        + "\n"
    )
    os.replace(tmp, vault_file)
    return vault
