"""Backups on record: who copied the whole vault, where, and the manifest's hash.

The copy itself is storage's work (``storage.backup``, wired by ``bootstrap``); this use
case decides who may take it (admins: ``vault:vault:backup``; anyone else is refused on
record) and puts the finished backup on the signed log, with the SHA-256 of its
manifest, so that a backup found later can be matched to the event that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from custodes.core.authz import Permission
from custodes.core.custody import Action
from custodes.services.context import Context
from custodes.services.usecase import acting

BackupWriter = Callable[[], Mapping[str, object]]
"""Writes the backup; returns what the event records (folder, manifest hash, counts)."""


def take_backup(ctx: Context, actor_name: str | None, write: BackupWriter) -> int:
    """Check that the actor may back up the vault, run ``write``, and record it; the
    event's sequence number. A refused actor is on record and nothing is written."""
    with acting(ctx, actor_name, readonly=True) as uc:
        uc.allow(Permission.VAULT_BACKUP)
    details = dict(write())
    with acting(ctx, actor_name) as uc:
        seq = uc.record(Action.BACKUP, details=details)
        uc.commit()
    return seq
