"""Tests of custodes.storage.migrations: upgrades keep what is stored."""

from __future__ import annotations

from sqlalchemy import insert, select

from custodes.config import Settings
from custodes.storage import migrations
from custodes.storage import tables as t
from custodes.storage.db import make_engine


def test_0005_keeps_assignments_with_no_reach_restored(settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        migrations.upgrade(engine, "0004")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (id, username, role, active, created_at) "
                "VALUES (1, 'ofc', 'officer', true, 'now')"
            )
            conn.exec_driver_sql(
                "INSERT INTO cases (id, number, title, status, flags, created_at) "
                "VALUES (1, 'C-1', '', 'open', '', 'now')"
            )
            conn.exec_driver_sql("INSERT INTO case_members (case_id, user_id) VALUES (1, 1)")
        migrations.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(t.users).values(
                    id=2, username="o2", role="officer", active=True, created_at="now"
                )
            )
            conn.execute(insert(t.case_members).values(case_id=1, user_id=2))
            rows = conn.execute(
                select(t.case_members.c.user_id, t.case_members.c.reach_restored).order_by(
                    t.case_members.c.user_id
                )
            ).all()
        assert [tuple(r) for r in rows] == [(1, False), (2, False)]
    finally:
        engine.dispose()
