"""Passkeys (WebAuthn credentials, issue 18) and the challenges handed to sessions for
them. The service checks every ceremony; this stores what it verified."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection

from custodes.core.records import PasskeyChallenge, StoredPasskey
from custodes.storage import tables as t


class PasskeyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # Credentials.

    @staticmethod
    def _passkey(row: Any) -> StoredPasskey:
        return StoredPasskey(
            id=row.id,
            user_id=int(row.user_id),
            username=row.username,
            credential_id=bytes(row.credential_id),
            public_key=bytes(row.public_key),
            sign_count=int(row.sign_count),
            transports=tuple(x for x in str(row.transports).split(",") if x),
            name=row.name,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
        )

    def _select(self) -> Any:
        c = t.webauthn_credentials
        return (
            select(c, t.users.c.username)
            .join(t.users, t.users.c.id == c.c.user_id)
            .order_by(c.c.created_at, c.c.id)
        )

    def add(
        self,
        passkey_id: str,
        user_id: int,
        credential_id: bytes,
        public_key: bytes,
        sign_count: int,
        transports: tuple[str, ...],
        name: str,
        created_at: str,
    ) -> None:
        self._conn.execute(
            insert(t.webauthn_credentials).values(
                id=passkey_id,
                user_id=user_id,
                credential_id=credential_id,
                public_key=public_key,
                sign_count=sign_count,
                transports=",".join(transports)[:200],
                name=name,
                created_at=created_at,
            )
        )

    def of_user(self, user_id: int) -> list[StoredPasskey]:
        query = self._select().where(t.webauthn_credentials.c.user_id == user_id)
        return [self._passkey(r) for r in self._conn.execute(query).all()]

    def all(self) -> list[StoredPasskey]:
        return [self._passkey(r) for r in self._conn.execute(self._select()).all()]

    def get(self, passkey_id: str) -> StoredPasskey | None:
        query = self._select().where(t.webauthn_credentials.c.id == passkey_id)
        row = self._conn.execute(query).first()
        return None if row is None else self._passkey(row)

    def by_credential_id(self, credential_id: bytes) -> StoredPasskey | None:
        query = self._select().where(t.webauthn_credentials.c.credential_id == credential_id)
        row = self._conn.execute(query).first()
        return None if row is None else self._passkey(row)

    def used(self, passkey_id: str, old_count: int, new_count: int, at: str) -> bool:
        """Move the counter from ``old_count`` to ``new_count``; False when another sign-in
        moved it first (the row is not what was verified against)."""
        c = t.webauthn_credentials.c
        result = self._conn.execute(
            update(t.webauthn_credentials)
            .where(and_(c.id == passkey_id, c.sign_count == old_count))
            .values(sign_count=new_count, last_used_at=at)
        )
        return bool(result.rowcount)

    def rename(self, passkey_id: str, name: str) -> None:
        self._conn.execute(
            update(t.webauthn_credentials)
            .where(t.webauthn_credentials.c.id == passkey_id)
            .values(name=name)
        )

    def remove(self, passkey_id: str) -> bool:
        result = self._conn.execute(
            delete(t.webauthn_credentials).where(t.webauthn_credentials.c.id == passkey_id)
        )
        return bool(result.rowcount)

    # Challenges: one a session, replaced by the next, deleted when used.

    def put_challenge(self, challenge: PasskeyChallenge) -> None:
        self._conn.execute(
            delete(t.webauthn_challenges).where(
                t.webauthn_challenges.c.session == challenge.session
            )
        )
        self._conn.execute(
            insert(t.webauthn_challenges).values(
                session=challenge.session,
                purpose=challenge.purpose,
                challenge=challenge.challenge,
                created_at=challenge.created_at,
            )
        )

    def take_challenge(self, session: str, purpose: str) -> PasskeyChallenge | None:
        """The session's challenge for ``purpose``, removed (used once, however the
        ceremony ends); None when there is none."""
        c = t.webauthn_challenges.c
        row = self._conn.execute(
            select(t.webauthn_challenges).where(and_(c.session == session, c.purpose == purpose))
        ).first()
        if row is None:
            return None
        result = self._conn.execute(
            delete(t.webauthn_challenges).where(
                and_(c.session == session, c.challenge == row.challenge)
            )
        )
        if not result.rowcount:
            return None  # taken by a request beside this one
        return PasskeyChallenge(row.session, row.purpose, row.challenge, row.created_at)
