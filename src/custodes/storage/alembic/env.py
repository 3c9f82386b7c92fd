"""Alembic environment: runs on the connection that ``custodes.storage.migrations`` hands over."""

from __future__ import annotations

from alembic import context

from custodes.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when alembic is run by hand
    raise RuntimeError("run migrations through custodes.storage.migrations.upgrade()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
