"""Passkeys (WebAuthn) as a second factor, below the web: a software authenticator
(tests/factories/authenticator.py: ES256, "none" attestation) enrols at first sign-in,
signs in, and is refused when its answer came from another origin, replays a challenge,
winds its counter back, skips user verification, or was removed; failures count toward
the lockout; ``verify`` names a passkey row edited on the database file."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import (
    AccountLocked,
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from custodes.services import auth, passkeys, users, verify
from custodes.services.audit import list_events
from tests.factories.authenticator import SoftAuthenticator

PASSWORD = "a password long enough"
ORIGIN = "https://vault.example.org"
ADDRESS = "10.0.0.7"


class Clock:
    def __init__(self) -> None:
        self.t = datetime.now(UTC)

    def now(self) -> datetime:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += timedelta(**delta)


@pytest.fixture
def vault(sqlite_vault: Vault) -> Iterator[Vault]:
    yield dataclasses.replace(sqlite_vault, clock=Clock())


def _events(vault: Vault, action: str) -> list[dict[str, Any]]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow) if e["action"] == action]


def _enrolled(vault: Vault, name: str) -> tuple[SoftAuthenticator, auth.Started]:
    """``name`` added, signed in with a password, enrolled with a passkey."""
    users.add_user(vault, "admin", name, "records", PASSWORD)
    started = auth.sign_in(vault, name, PASSWORD, ADDRESS, "test")
    assert started.step.status == "enrol-required"
    key = SoftAuthenticator(ORIGIN)
    options = passkeys.enrol_options(vault, started.cookie, ORIGIN, ADDRESS)
    done = passkeys.enrol(
        vault, started.cookie, key.create(options), ORIGIN, ADDRESS, name="laptop"
    )
    return key, done


def _second_step(vault: Vault, name: str) -> str:
    started = auth.sign_in(vault, name, PASSWORD, ADDRESS, "test")
    assert started.step.status == "second-factor-required"
    return started.cookie


def _sign_in(vault: Vault, name: str, key: SoftAuthenticator, **bend: object) -> auth.Started:
    cookie = _second_step(vault, name)
    options = passkeys.sign_in_options(vault, cookie, ORIGIN, ADDRESS)
    return passkeys.sign_in(vault, cookie, key.get(options, **bend), ORIGIN, ADDRESS)  # type: ignore[arg-type]


def _sql(vault: Vault, statement: str) -> None:
    db = sqlite3.connect(vault.settings.home / "vault.db")
    db.execute(statement)
    db.commit()
    db.close()


def _problems(vault: Vault) -> list[str]:
    report = verify.verify_vault(vault, "admin", blobs=False)
    return [f"{p['kind']}: {p['detail']}" for p in report.problems]


def test_enrol_at_first_sign_in_then_sign_in_with_the_passkey(vault: Vault) -> None:
    key, done = _enrolled(vault, "ann")
    assert done.step.status == "signed-in"
    assert done.step.recovery_codes is not None and len(done.step.recovery_codes) == 10
    assert auth.resume(vault, done.cookie, ADDRESS).username == "ann"
    enrol = _events(vault, "mfa-enrol")[-1]
    assert enrol["details"]["factor"] == "passkey" and enrol["details"]["secret_digest"] is None
    made = _events(vault, "passkey-enrol")[-1]
    assert made["object_id"] == "ann" and made["details"]["name"] == "laptop"
    assert made["client"] == f"web:session/{done.step.session} from {ADDRESS}"
    # No TOTP secret is left behind from the enrolment page.
    with vault.uow(readonly=True) as uow:
        assert uow.auth.totp(uow.users.get("ann").id) is None
    # The next sign-in asks for the passkey, and it signs in.
    again = auth.sign_in(vault, "ann", PASSWORD, ADDRESS, "test")
    assert (again.step.status, again.step.totp, again.step.passkeys) == (
        "second-factor-required",
        False,
        1,
    )
    assert passkeys.factors(vault, again.cookie) == (False, 1)
    options = passkeys.sign_in_options(vault, again.cookie, ORIGIN, ADDRESS)
    assert options["rpId"] == "vault.example.org" and options["userVerification"] == "required"
    signed = passkeys.sign_in(vault, again.cookie, key.get(options), ORIGIN, ADDRESS)
    assert signed.step.status == "signed-in"
    assert auth.resume(vault, signed.cookie, ADDRESS).username == "ann"
    used = _events(vault, "passkey-use")[-1]
    assert used["details"]["sign_count"] == 1 and used["details"]["address"] == ADDRESS
    assert _events(vault, "sign-in")[-1]["details"]["second_factor"] == "passkey"
    # A TOTP code is no use to a passkey-only account; a recovery code is.
    third = _second_step(vault, "ann")
    with pytest.raises(CustodyConflict, match="no authenticator app"):
        auth.second_factor(vault, third, ADDRESS, code="123456")
    assert done.step.recovery_codes is not None
    auth.second_factor(vault, third, ADDRESS, recovery_code=done.step.recovery_codes[0])
    assert _problems(vault) == []


def test_an_answer_for_another_origin_is_refused(vault: Vault) -> None:
    users.add_user(vault, "admin", "bo", "records", PASSWORD)
    started = auth.sign_in(vault, "bo", PASSWORD, ADDRESS, "test")
    key = SoftAuthenticator(ORIGIN)
    options = passkeys.enrol_options(vault, started.cookie, ORIGIN, ADDRESS)
    bad = key.create(options, origin="https://vault.example.org.evil.test")
    with pytest.raises(Unauthenticated, match="the passkey was refused"):
        passkeys.enrol(vault, started.cookie, bad, ORIGIN, ADDRESS)
    failed = _events(vault, "sign-in-failed")[-1]
    assert failed["details"]["step"] == "passkey-enrol" and "origin" in failed["details"]["why"]
    assert failed["details"]["failures"] == 1
    # And at sign-in.
    key, _ = _enrolled(vault, "cy")
    with pytest.raises(Unauthenticated):
        _sign_in(vault, "cy", key, origin="https://evil.test")
    failed = _events(vault, "sign-in-failed")[-1]
    assert (failed["object_id"], failed["details"]["step"]) == ("cy", "passkey")
    assert "origin" in failed["details"]["why"]


def test_a_challenge_is_used_once_and_expires(vault: Vault) -> None:
    key, _ = _enrolled(vault, "di")
    cookie = _second_step(vault, "di")
    options = passkeys.sign_in_options(vault, cookie, ORIGIN, ADDRESS)
    with pytest.raises(Unauthenticated):  # a bad answer uses the challenge up
        passkeys.sign_in(vault, cookie, key.get(options, verified=False), ORIGIN, ADDRESS)
    with pytest.raises(Unauthenticated):
        passkeys.sign_in(vault, cookie, key.get(options), ORIGIN, ADDRESS)
    assert "no passkey challenge" in _events(vault, "sign-in-failed")[-1]["details"]["why"]
    # An answer recorded in one sign-in is no use in the next.
    options = passkeys.sign_in_options(vault, cookie, ORIGIN, ADDRESS)
    answer = key.get(options)
    passkeys.sign_in(vault, cookie, answer, ORIGIN, ADDRESS)
    later = _second_step(vault, "di")
    passkeys.sign_in_options(vault, later, ORIGIN, ADDRESS)
    with pytest.raises(Unauthenticated):
        passkeys.sign_in(vault, later, answer, ORIGIN, ADDRESS)
    assert "challenge" in _events(vault, "sign-in-failed")[-1]["details"]["why"]
    # A challenge lives five minutes.
    options = passkeys.sign_in_options(vault, later, ORIGIN, ADDRESS)
    vault.clock.advance(minutes=5, seconds=1)  # type: ignore[attr-defined]
    with pytest.raises(Unauthenticated):
        passkeys.sign_in(vault, later, key.get(options), ORIGIN, ADDRESS)


def test_user_verification_is_required(vault: Vault) -> None:
    users.add_user(vault, "admin", "ed", "records", PASSWORD)
    started = auth.sign_in(vault, "ed", PASSWORD, ADDRESS, "test")
    key = SoftAuthenticator(ORIGIN)
    options = passkeys.enrol_options(vault, started.cookie, ORIGIN, ADDRESS)
    assert options["authenticatorSelection"]["userVerification"] == "required"
    with pytest.raises(Unauthenticated):
        passkeys.enrol(vault, started.cookie, key.create(options, verified=False), ORIGIN, ADDRESS)
    assert "verif" in _events(vault, "sign-in-failed")[-1]["details"]["why"]


def test_a_counter_wound_back_is_refused(vault: Vault) -> None:
    key, _ = _enrolled(vault, "fay")
    for _ in range(2):
        _sign_in(vault, "fay", key)
    with pytest.raises(Unauthenticated):
        _sign_in(vault, "fay", key, count=1)  # a clone that signed once
    assert "sign count" in _events(vault, "sign-in-failed")[-1]["details"]["why"]
    with vault.uow(readonly=True) as uow:
        (stored,) = uow.passkeys.of_user(uow.users.get("fay").id)
    assert stored.sign_count == 2


def test_add_rename_remove_and_a_removed_passkey_is_refused(vault: Vault) -> None:
    first, done = _enrolled(vault, "gil")
    session = done.step.session
    second = SoftAuthenticator(ORIGIN)
    options = passkeys.add_options(vault, "gil", session, ORIGIN)
    assert [c["id"] for c in options["excludeCredentials"]] == [
        first.create(options)["id"]  # the first is not registered twice
    ]
    vault.clock.advance(seconds=1)  # type: ignore[attr-defined]  # listed in order added
    added = passkeys.add(
        vault, "gil", session, second.create(options), ORIGIN, ADDRESS, name="phone"
    )
    with pytest.raises(InvalidInput, match="no passkey challenge"):  # used once
        passkeys.add(vault, "gil", session, second.create(options), ORIGIN, ADDRESS)
    assert _events(vault, "passkey-refused")[-1]["details"]["session"] == session
    listed = passkeys.list_passkeys(vault, "gil")
    assert [(p.name, p.transports) for p in listed] == [
        ("laptop", ["internal"]),
        ("phone", ["internal"]),
    ]
    passkeys.rename(vault, "gil", added.passkey_id, "work phone", ADDRESS)
    assert passkeys.list_passkeys(vault, "gil")[1].name == "work phone"
    users.add_user(vault, "admin", "hal", "officer", PASSWORD)
    with pytest.raises(NotFound):  # one's own passkeys only
        passkeys.remove(vault, "hal", added.passkey_id, ADDRESS)
    passkeys.remove(vault, "gil", added.passkey_id, ADDRESS)
    assert _events(vault, "passkey-remove")[-1]["details"]["passkey"] == added.passkey_id
    with pytest.raises(Unauthenticated):
        _sign_in(vault, "gil", second)
    assert _events(vault, "sign-in-failed")[-1]["details"]["why"] == "not a passkey of this user"
    # The last second factor stays.
    (last,) = passkeys.list_passkeys(vault, "gil")
    with pytest.raises(CustodyConflict, match="only second factor"):
        passkeys.remove(vault, "gil", last.passkey_id, ADDRESS)
    _sign_in(vault, "gil", first)
    assert _problems(vault) == []


def test_a_totp_user_may_remove_the_only_passkey(vault: Vault) -> None:
    users.add_user(vault, "admin", "ivy", "records", PASSWORD)
    started = auth.sign_in(vault, "ivy", PASSWORD, ADDRESS, "test")
    assert started.step.secret is not None
    done = auth.enrol(
        vault, started.cookie, pyotp.TOTP(started.step.secret).at(vault.clock.now()), ADDRESS
    )
    key = SoftAuthenticator(ORIGIN)
    options = passkeys.add_options(vault, "ivy", done.step.session, ORIGIN)
    added = passkeys.add(vault, "ivy", done.step.session, key.create(options), ORIGIN, ADDRESS)
    again = auth.sign_in(vault, "ivy", PASSWORD, ADDRESS, "test")
    assert (again.step.totp, again.step.passkeys) == (True, 1)
    passkeys.remove(vault, "ivy", added.passkey_id, ADDRESS)
    assert passkeys.list_passkeys(vault, "ivy") == []
    assert _problems(vault) == []


def test_failed_passkeys_lock_the_account_like_passwords(vault: Vault) -> None:
    key, _ = _enrolled(vault, "jo")
    for n in range(1, 5):
        with pytest.raises(Unauthenticated) as info:
            _sign_in(vault, "jo", key, origin="https://evil.test")
        assert not isinstance(info.value, AccountLocked), n
    with pytest.raises(AccountLocked):
        _sign_in(vault, "jo", key, origin="https://evil.test")
    assert _events(vault, "account-locked")[-1]["object_id"] == "jo"
    with pytest.raises(AccountLocked):  # even the right passkey, while locked
        auth.sign_in(vault, "jo", PASSWORD, ADDRESS, "test")
    vault.clock.advance(minutes=10, seconds=1)  # type: ignore[attr-defined]
    assert _sign_in(vault, "jo", key).step.status == "signed-in"


def test_an_ip_address_is_no_relying_party() -> None:
    for origin in ("http://127.0.0.1:8000", "http://[::1]:8000", "https://"):
        with pytest.raises(InvalidInput, match="host name"):
            passkeys.relying_party(origin)
    assert passkeys.relying_party("http://localhost:8000") == "localhost"
    assert passkeys.relying_party("https://cafe") == "cafe"  # hex letters are a name


KEY_ID = "(SELECT id FROM webauthn_credentials LIMIT 1)"


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        (
            "UPDATE webauthn_credentials SET public_key=X'00'",
            "passkey {pk} differs from the log in public_key_digest",
        ),
        (
            "UPDATE webauthn_credentials SET sign_count=0",
            "passkey {pk} differs from the log in sign_count",
        ),
        (
            "UPDATE webauthn_credentials SET user_id=(SELECT id FROM users WHERE username='admin')",
            "passkey {pk} differs from the log in username",
        ),
        ("DELETE FROM webauthn_credentials", "passkey {pk} is on the log but not in the tables"),
        (
            "INSERT INTO webauthn_credentials (id, user_id, credential_id, public_key, sign_count,"
            " transports, name, created_at) SELECT 'PK-X', user_id, X'01', public_key, 0, '',"
            " 'mine', 'x' FROM webauthn_credentials",
            "passkey PK-X is in the tables but no event made it",
        ),
    ],
    ids=["key swapped", "counter wound back", "moved to admin", "deleted", "inserted"],
)
def test_verify_names_an_edited_passkey_row(vault: Vault, sql: str, said: str) -> None:
    key, _ = _enrolled(vault, "kit")
    _sign_in(vault, "kit", key)
    (pk,) = passkeys.list_passkeys(vault, "kit")
    _sql(vault, sql)
    assert any(said.format(pk=pk.passkey_id) in p for p in _problems(vault)), _problems(vault)


def test_a_sign_in_with_an_edited_passkey_is_refused_on_record(vault: Vault) -> None:
    key, _ = _enrolled(vault, "lee")
    _sign_in(vault, "lee", key)
    cookie = _second_step(vault, "lee")
    options = passkeys.sign_in_options(vault, cookie, ORIGIN, ADDRESS)
    _sql(vault, "UPDATE webauthn_credentials SET sign_count=0")  # between the two steps
    with pytest.raises(IntegrityFailure, match=r"passkey PK-.* sign_count"):
        passkeys.sign_in(vault, cookie, key.get(options, count=1), ORIGIN, ADDRESS)
    with pytest.raises(IntegrityFailure, match=r"passkeys of user lee: .* sign_count"):
        auth.sign_in(vault, "lee", PASSWORD, ADDRESS, "test")
    refused = [
        e["details"]["step"]
        for e in _events(vault, "sign-in-failed")
        if e["details"].get("code") == "IntegrityFailure"
    ]
    assert refused == ["passkey", "password"]


def test_a_deleted_passkey_does_not_let_the_password_alone_enrol(vault: Vault) -> None:
    """A passkey-only account whose passkey an insider deleted would otherwise be offered
    a first enrolment on its password alone."""
    _enrolled(vault, "max")
    _sql(vault, "DELETE FROM webauthn_credentials")
    with pytest.raises(IntegrityFailure, match="passkeys of user max: passkey PK-"):
        auth.sign_in(vault, "max", PASSWORD, ADDRESS, "test")
    refused = _events(vault, "sign-in-failed")[-1]
    assert (refused["details"]["step"], refused["details"]["code"]) == (
        "password",
        "IntegrityFailure",
    )


@pytest.fixture
def either_vault(settings: Settings) -> Iterator[Vault]:
    """On SQLite, and on PostgreSQL when one is reachable."""
    opened = bootstrap.init_vault(settings)
    yield dataclasses.replace(opened, clock=Clock())
    opened.engine.dispose()


def test_a_passkey_on_either_database(either_vault: Vault) -> None:
    key, done = _enrolled(either_vault, "nat")
    assert _sign_in(either_vault, "nat", key).step.status == "signed-in"
    with pytest.raises(Unauthenticated):  # the same counter again
        _sign_in(either_vault, "nat", key, count=1)
    second = SoftAuthenticator(ORIGIN)
    options = passkeys.add_options(either_vault, "nat", done.step.session, ORIGIN)
    with pytest.raises(CustodyConflict, match="registered already"):
        passkeys.add(either_vault, "nat", done.step.session, key.create(options), ORIGIN, ADDRESS)
    options = passkeys.add_options(either_vault, "nat", done.step.session, ORIGIN)
    passkeys.add(either_vault, "nat", done.step.session, second.create(options), ORIGIN, ADDRESS)
    assert len(passkeys.list_passkeys(either_vault, "nat")) == 2
    assert verify.verify_vault(either_vault, "admin", blobs=False).problems == []
