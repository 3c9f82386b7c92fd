"""Tests of custodes.storage.keys: the vault key file and Ed25519 verification.

Known-answer vector: RFC 8032 §7.1 "TEST 1" (Ed25519, empty message).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custodes.core.checkpoint import parse_vkey
from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput
from custodes.core.ports import Signer
from custodes.storage import keys
from custodes.storage.keys import Ed25519Signer, ed25519_verify

RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
    "1cf9b46bd25bf5f0595bbe24655141438e7a100b"
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def test_rfc8032_test_1() -> None:
    signer = Ed25519Signer.from_seed("rfc8032", RFC8032_SECRET)
    assert signer.public_key == RFC8032_PUBLIC
    assert signer.sign(b"") == RFC8032_SIGNATURE
    ed25519_verify(RFC8032_PUBLIC, RFC8032_SIGNATURE, b"")


def test_ed25519_verify_raises_integrity_failure() -> None:
    bad_sig = bytes([RFC8032_SIGNATURE[0] ^ 1]) + RFC8032_SIGNATURE[1:]
    with pytest.raises(IntegrityFailure, match="does not verify"):
        ed25519_verify(RFC8032_PUBLIC, bad_sig, b"")
    with pytest.raises(IntegrityFailure):
        ed25519_verify(RFC8032_PUBLIC, RFC8032_SIGNATURE, b"x")
    with pytest.raises(IntegrityFailure):
        ed25519_verify(RFC8032_PUBLIC, RFC8032_SIGNATURE[:63], b"")
    with pytest.raises(IntegrityFailure, match="public key"):
        ed25519_verify(RFC8032_PUBLIC[:31], RFC8032_SIGNATURE, b"")


def test_signer_implements_the_port() -> None:
    signer: Signer = Ed25519Signer.generate("custodes.example/audit")
    assert signer.name == "custodes.example/audit"
    assert len(signer.public_key) == 32
    signature = signer.sign(b"message")
    assert len(signature) == 64
    ed25519_verify(signer.public_key, signature, b"message")


def test_signer_vkey_and_repr() -> None:
    signer = Ed25519Signer.from_seed("custodes.example/audit", RFC8032_SECRET)
    assert parse_vkey(signer.vkey) == ("custodes.example/audit", RFC8032_PUBLIC)
    assert signer.vkey in repr(signer)
    assert RFC8032_SECRET.hex() not in repr(signer)


@pytest.mark.parametrize("name", ["", "has space", "a+b"])
def test_signer_rejects_bad_names(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        Ed25519Signer.generate(name)
    with pytest.raises(InvalidInput):
        Ed25519Signer.load_or_create(tmp_path / "key.pem", name)
    assert not (tmp_path / "key.pem").exists()


def test_from_seed_needs_32_bytes() -> None:
    with pytest.raises(InvalidInput):
        Ed25519Signer.from_seed("name", bytes(31))


@posix_only
def test_load_or_create_creates_a_private_pkcs8_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "vault.pem"
    signer = Ed25519Signer.load_or_create(path, "custodes.example/audit")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert key.public_key().public_bytes_raw() == signer.public_key
    assert sorted(p.name for p in path.parent.iterdir()) == ["vault.pem"]  # no temp files


def test_load_or_create_loads_the_same_key_again(tmp_path: Path) -> None:
    path = tmp_path / "vault.pem"
    first = Ed25519Signer.load_or_create(path, "custodes.example/audit")
    pem = path.read_bytes()
    second = Ed25519Signer.load_or_create(path, "custodes.example/audit")
    assert second.public_key == first.public_key
    assert path.read_bytes() == pem


def test_load_or_create_reads_an_existing_pkcs8_key(tmp_path: Path) -> None:
    path = tmp_path / "vault.pem"
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    write_private(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    signer = Ed25519Signer.load_or_create(path, "rfc8032")
    assert signer.public_key == RFC8032_PUBLIC
    assert signer.sign(b"") == RFC8032_SIGNATURE


def test_key_creation_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "vault.pem"
    path.write_bytes(b"someone else's key\n")
    with pytest.raises(FileExistsError):
        keys._create_key_file(path)  # e.g. a concurrent creator won the race
    assert path.read_bytes() == b"someone else's key\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.pem"]


def test_concurrent_creation_loads_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "vault.pem"
    winner = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    real_link = os.link

    def racing_link(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        write_private(
            Path(dst),
            winner.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    signer = Ed25519Signer.load_or_create(path, "rfc8032")
    assert signer.public_key == RFC8032_PUBLIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.pem"]


@posix_only
def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vault.pem"
    Ed25519Signer.load_or_create(path, "custodes.example/audit")
    path.chmod(0o644)
    with pytest.raises(InvalidInput, match="readable by other users") as info:
        Ed25519Signer.load_or_create(path, "custodes.example/audit")
    assert "chmod 600" in info.value.diagnostics()


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vault.pem"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    write_private(
        path,
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    with pytest.raises(IntegrityFailure, match="not an Ed25519 key"):
        Ed25519Signer.load_or_create(path, "custodes.example/audit")


@pytest.mark.parametrize(
    "content",
    [
        b"not a key at all\n",
        b"",
        Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ),
    ],
)
def test_a_damaged_key_file_is_an_integrity_failure(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vault.pem"
    write_private(path, content)
    with pytest.raises(IntegrityFailure, match="restore it from backup"):
        Ed25519Signer.load_or_create(path, "custodes.example/audit")
    with pytest.raises(IntegrityFailure, match="restore it from backup"):
        Ed25519Signer.load(path, "custodes.example/audit")
    assert path.read_bytes() == content


def test_load_never_creates_a_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "vault.pem"
    with pytest.raises(IntegrityFailure, match="is missing; restore it from backup"):
        Ed25519Signer.load(path, "custodes.example/audit")
    assert not path.exists() and not path.parent.exists()


def test_load_checks_the_published_key(tmp_path: Path) -> None:
    path = tmp_path / "vault.pem"
    signer = Ed25519Signer.load_or_create(path, "custodes.example/audit")
    loaded = Ed25519Signer.load(path, "custodes.example/audit", expected_vkey=signer.vkey)
    assert loaded.public_key == signer.public_key
    other = Ed25519Signer.generate("custodes.example/audit")
    with pytest.raises(IntegrityFailure, match="does not match the published key") as info:
        Ed25519Signer.load(path, "custodes.example/audit", expected_vkey=other.vkey)
    assert other.vkey.split("+")[1] in str(info.value)


def test_a_directory_in_place_of_the_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vault.pem"
    path.mkdir()
    with pytest.raises(CustodesError):
        Ed25519Signer.load_or_create(path, "custodes.example/audit")
