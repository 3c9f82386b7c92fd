# ruff: noqa: E501  (the table of changes reads best one per line)
"""Web authentication bound to the signed log (issue 22 x issue 18): on a copy of a vault
where a user signed in (enrolling TOTP), signed in again with a recovery code and out, and
holds API tokens (one revoked), each authentication row is edited, deleted or inserted on
the database file itself; ``verify`` names the row, and signing in or using a token with
it is refused, on record (``sign-in-failed``, code ``IntegrityFailure``)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.errors import IntegrityFailure
from custodes.services import auth, users, verify
from custodes.services.audit import list_events
from custodes.services.users import hash_password

PASSWORD = "a password long enough"
ADDRESS = "10.0.0.9"
CHOSEN = "cst_chosen-by-an-insider"


@dataclass(frozen=True)
class Used:
    home: Path
    cookie: str
    session: str
    ended: str
    tk: str
    token: str
    revoked: str


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory) -> Used:
    root = tmp_path_factory.mktemp("auth")
    vault = bootstrap.init_vault(Settings(home=root / "vault"))
    try:
        users.add_user(vault, "admin", "ann", "records", PASSWORD)
        started = auth.sign_in(vault, "ann", PASSWORD, ADDRESS, "test")
        assert started.step.secret is not None
        code = pyotp.TOTP(started.step.secret).at(vault.clock.now())
        done = auth.enrol(vault, started.cookie, code, ADDRESS)
        assert done.step.recovery_codes is not None
        again = auth.sign_in(vault, "ann", PASSWORD, ADDRESS, "test")
        later = auth.second_factor(
            vault, again.cookie, ADDRESS, recovery_code=done.step.recovery_codes[0]
        )
        auth.sign_out(vault, later.cookie, ADDRESS)
        made = auth.create_token(vault, "admin", "ann", timedelta(days=30))
        revoked = auth.create_token(vault, "ann", "ann", timedelta(days=1)).token_id
        auth.revoke_token(vault, "ann", revoked)
    finally:
        vault.engine.dispose()
    return Used(
        root / "vault",
        done.cookie,
        done.step.session,
        later.step.session,
        made.token_id,
        made.token,
        revoked,
    )


@pytest.fixture
def copy(used: Used, tmp_path: Path) -> Iterator[bootstrap.Vault]:
    home = tmp_path / "vault"
    shutil.copytree(used.home, home)
    vault = bootstrap.open_vault(Settings(home=home))
    yield vault
    vault.engine.dispose()


def _sql(vault: bootstrap.Vault, statement: str) -> None:
    db = sqlite3.connect(vault.settings.home / "vault.db")
    db.execute(statement)
    db.commit()
    db.close()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _refused(vault: bootstrap.Vault) -> list[tuple[str, str]]:
    with vault.uow(readonly=True) as uow:
        found = list_events(uow)
    return [
        (e["action"], e["details"].get("step"))
        for e in found
        if e["details"].get("code") == "IntegrityFailure"
    ]


def test_the_used_vault_verifies_and_lets_ann_in(used: Used, copy: bootstrap.Vault) -> None:
    assert verify.verify_vault(copy, "admin", blobs=False).problems == []
    assert auth.resume(copy, used.cookie, ADDRESS).username == "ann"
    assert auth.authenticate_token(copy, used.token, ADDRESS).username == "ann"
    assert auth.sign_in(copy, "ann", PASSWORD, ADDRESS, "test").step.status == (
        "second-factor-required"
    )


ADMIN_ID = "(SELECT id FROM users WHERE username='admin')"
ANN_ID = "(SELECT id FROM users WHERE username='ann')"

# (name, SQL with {placeholders} of Used, the words verify must say)
CHANGES: list[tuple[str, str, str]] = [
    # passwords
    ("password swapped", "UPDATE users SET password_hash='{argon}' WHERE username='ann'", "password of user ann differs from the log in password_digest"),
    ("password given to admin", "UPDATE users SET password_hash='{argon}' WHERE username='admin'", "password of user admin differs from the log in password_digest"),
    ("password cleared", "UPDATE users SET password_hash=NULL WHERE username='ann'", "password of user ann differs from the log in password_digest"),
    # API tokens
    ("token inserted", f"INSERT INTO api_tokens (id, user_id, token_hash, created_at, created_by, expires_at) VALUES ('TK-X', {ADMIN_ID}, '{{chosen}}', 'x', 'admin', '2999-01-01T00:00:00+00:00')", "api token TK-X is in the tables but no event made it"),
    ("token hash swapped", "UPDATE api_tokens SET token_hash='{chosen}' WHERE id='{tk}'", "api token {tk} differs from the log in token_digest"),
    ("token moved to admin", f"UPDATE api_tokens SET user_id={ADMIN_ID} WHERE id='{{tk}}'", "api token {tk} differs from the log in username"),
    ("token expiry extended", "UPDATE api_tokens SET expires_at='2999-01-01T00:00:00+00:00' WHERE id='{tk}'", "api token {tk} differs from the log in expires_at"),
    ("token unrevoked", "UPDATE api_tokens SET revoked_at=NULL WHERE id='{revoked}'", "api token {revoked} differs from the log in revoked"),
    ("token deleted", "DELETE FROM api_tokens WHERE id='{tk}'", "api token {tk} is on the log but not in the tables"),
    # second factors
    ("totp secret altered", f"UPDATE totp_secrets SET secret=X'00' WHERE user_id={ANN_ID}", "second factor of user ann differs from the log in secret_digest"),
    ("totp unconfirmed", f"UPDATE totp_secrets SET confirmed_at=NULL WHERE user_id={ANN_ID}", "second factor of user ann differs from the log in confirmed"),
    ("totp deleted", f"DELETE FROM totp_secrets WHERE user_id={ANN_ID}", "second factor of user ann differs from the log in secret_digest, confirmed"),
    ("totp inserted", f"INSERT INTO totp_secrets (user_id, secret, created_at, confirmed_at) VALUES ({ADMIN_ID}, X'00', 'x', 'x')", "second factor of user admin is in the tables but no event made it"),
    ("recovery code inserted", f"INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ({ANN_ID}, '{{zeros}}', 'x')", "second factor of user ann differs from the log in codes_digest"),
    ("recovery code unused", "UPDATE recovery_codes SET used_at=NULL", "second factor of user ann differs from the log in codes_used"),
    ("recovery codes deleted", "DELETE FROM recovery_codes", "second factor of user ann differs from the log in codes_digest, codes_used"),
    # signed-in sessions
    ("session inserted", f"INSERT INTO web_sessions (id_hash, short_id, user_id, created_at, last_seen_at, address, user_agent, second_factor_at, second_factor) VALUES ('{{chosen}}', 'beefbeef', {ADMIN_ID}, 'x', 'x', 'x', 'x', 'x', 'totp')", "web session beefbeef is in the tables but no event made it"),
    ("session id swapped", "UPDATE web_sessions SET id_hash='{chosen}' WHERE short_id='{session}'", "web session {session} differs from the log in session_digest"),
    ("session moved to admin", f"UPDATE web_sessions SET user_id={ADMIN_ID} WHERE short_id='{{session}}'", "web session {session} differs from the log in username"),
    ("session unended", "UPDATE web_sessions SET ended_at=NULL WHERE short_id='{ended}'", "web session {ended} differs from the log in ended"),
    ("session deleted", "DELETE FROM web_sessions WHERE short_id='{session}'", "web session {session} is on the log but not in the tables"),
]  # fmt: skip


@pytest.fixture(scope="module")
def argon() -> str:
    return hash_password("the insider's own password")


@pytest.mark.parametrize(("name", "sql", "said"), CHANGES, ids=[c[0] for c in CHANGES])
def test_verify_names_every_changed_authentication_row(
    used: Used, copy: bootstrap.Vault, argon: str, name: str, sql: str, said: str
) -> None:
    values = {**vars(used), "argon": argon, "chosen": _sha256(CHOSEN), "zeros": "0" * 64}
    _sql(copy, sql.format(**values))
    report = verify.verify_vault(copy, "admin", blobs=False)
    named = [f"{p['kind']}: {p['detail']}" for p in report.problems]
    assert any(said.format(**values) in p for p in named), named


def test_an_enrolment_under_way_is_not_reported(used: Used, copy: bootstrap.Vault) -> None:
    """A secret shown at sign-in and not yet confirmed is not a fact the log binds."""
    _sql(
        copy,
        f"INSERT INTO totp_secrets (user_id, secret, created_at) VALUES ({ADMIN_ID}, X'00', 'x')",
    )
    assert verify.verify_vault(copy, "admin", blobs=False).problems == []


def test_a_token_an_insider_inserted_is_refused_on_record(
    used: Used, copy: bootstrap.Vault
) -> None:
    _sql(copy, CHANGES[3][1].format(chosen=_sha256(CHOSEN)))
    with pytest.raises(IntegrityFailure, match="api token TK-X: no signed event made it"):
        auth.authenticate_token(copy, CHOSEN, ADDRESS)
    assert _refused(copy) == [("sign-in-failed", "token")]


def test_an_unrevoked_token_is_refused_on_record(used: Used, copy: bootstrap.Vault) -> None:
    # The insider knows the revoked token's value (their own) and revives it.
    _sql(
        copy,
        f"UPDATE api_tokens SET revoked_at=NULL, token_hash='{_sha256(CHOSEN)}' WHERE id='{used.revoked}'",
    )
    with pytest.raises(
        IntegrityFailure, match=f"api token {used.revoked}: .* token_digest, revoked"
    ):
        auth.authenticate_token(copy, CHOSEN, ADDRESS)
    assert _refused(copy) == [("sign-in-failed", "token")]


def test_a_swapped_password_hash_is_refused_on_record(
    used: Used, copy: bootstrap.Vault, argon: str
) -> None:
    _sql(copy, f"UPDATE users SET password_hash='{argon}' WHERE username='ann'")
    with pytest.raises(IntegrityFailure, match=r"password of user ann: .* password_digest"):
        auth.sign_in(copy, "ann", "the insider's own password", ADDRESS, "test")
    assert _refused(copy) == [("sign-in-failed", "password")]


def test_a_cleared_second_factor_is_not_enrolled_again(used: Used, copy: bootstrap.Vault) -> None:
    """Deleting a confirmed TOTP row would otherwise let whoever knows the password enrol
    an authenticator of their own."""
    _sql(copy, f"DELETE FROM totp_secrets WHERE user_id={ANN_ID}")
    with pytest.raises(IntegrityFailure, match=r"second factor of user ann: .* secret_digest"):
        auth.sign_in(copy, "ann", PASSWORD, ADDRESS, "test")
    assert _refused(copy) == [("sign-in-failed", "password")]


def test_an_unused_recovery_code_is_refused_at_the_second_factor(
    used: Used, copy: bootstrap.Vault
) -> None:
    started = auth.sign_in(copy, "ann", PASSWORD, ADDRESS, "test")
    _sql(copy, "UPDATE recovery_codes SET used_at=NULL")
    with pytest.raises(IntegrityFailure, match=r"second factor of user ann: .* codes_used"):
        auth.second_factor(copy, started.cookie, ADDRESS, recovery_code="00000-00000")
    assert _refused(copy) == [("sign-in-failed", "second-factor")]


def test_a_session_whose_id_was_swapped_is_refused_on_record(
    used: Used, copy: bootstrap.Vault
) -> None:
    # The insider points ann's live session at a cookie of their own choosing.
    _sql(
        copy, f"UPDATE web_sessions SET id_hash='{_sha256(CHOSEN)}' WHERE short_id='{used.session}'"
    )
    with pytest.raises(IntegrityFailure, match=f"web session {used.session}: .* session_digest"):
        auth.resume(copy, CHOSEN, ADDRESS)
    assert _refused(copy) == [("sign-in-failed", "session")]


def test_a_session_an_insider_inserted_is_refused_on_record(
    used: Used, copy: bootstrap.Vault
) -> None:
    now = datetime.now(UTC).isoformat()
    _sql(
        copy,
        "INSERT INTO web_sessions (id_hash, short_id, user_id, created_at, last_seen_at, address, "
        f"user_agent, second_factor_at, second_factor) VALUES ('{_sha256(CHOSEN)}', 'beefbeef', "
        f"{ADMIN_ID}, '{now}', '{now}', 'x', 'x', '{now}', 'totp')",
    )
    with pytest.raises(IntegrityFailure, match="web session beefbeef: no signed event made it"):
        auth.resume(copy, CHOSEN, ADDRESS)
    assert _refused(copy) == [("sign-in-failed", "session")]
