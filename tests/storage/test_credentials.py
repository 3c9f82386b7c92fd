"""The C2PA signing credential: self-made on the embedded default, or the department's."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from custodes.core.errors import InvalidInput
from custodes.storage.credentials import (
    CHAIN_FILE,
    FOLDER,
    KEY_FILE,
    ROOT_FILE,
    chain_root_pem,
    load_credential,
    load_or_create_credential,
    read_trust_anchors,
)


def test_self_made_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_credential(tmp_path, "Springfield PD")
    second = load_or_create_credential(tmp_path, "Springfield PD")
    assert first == second
    assert first.origin == "self-made" and first.alg == "es256"
    folder = tmp_path / FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted([CHAIN_FILE, KEY_FILE, ROOT_FILE])
    assert stat.S_IMODE((folder / KEY_FILE).stat().st_mode) == 0o600
    # No temporary folder is left behind.
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".c2pa-")] == []
    signer, root = x509.load_pem_x509_certificates(first.chain_pem)
    assert "Springfield PD" in signer.subject.rfc4514_string()
    assert signer.issuer == root.subject
    bc = signer.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca is False
    assert x509.load_pem_x509_certificate(first.anchors_pem) == root
    # The root's private key was thrown away: only the signer's key is on disk.
    key = serialization.load_pem_private_key((folder / KEY_FILE).read_bytes(), None)
    assert key.public_key() == signer.public_key()


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_department_credential_is_checked(tmp_path: Path) -> None:
    made = load_or_create_credential(tmp_path / "v", "PD")
    cert = _write(tmp_path / "chain.pem", made.chain_pem, 0o644)
    key = _write(tmp_path / "key.pem", made.key_pem)
    loaded = load_credential(cert, key)
    assert loaded.origin == "department" and loaded.anchors_pem == made.anchors_pem
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidInput, match="not the key of the first certificate"):
        load_credential(cert, _write(tmp_path / "other.pem", other))
    with pytest.raises(InvalidInput, match="chmod 600"):
        load_credential(cert, _write(tmp_path / "open.pem", made.key_pem, 0o644))
    with pytest.raises(InvalidInput, match=r"not a PEM certificate chain|holds no certificate"):
        load_credential(_write(tmp_path / "junk.pem", b"hello"), key)
    with pytest.raises(InvalidInput, match="unencrypted PEM private key"):
        load_credential(cert, _write(tmp_path / "junkkey.pem", b"nope"))
    with pytest.raises(InvalidInput, match="cannot read"):
        load_credential(tmp_path / "missing.pem", key)


def test_trust_anchors_file_is_checked(tmp_path: Path) -> None:
    made = load_or_create_credential(tmp_path / "v", "PD")
    root = _write(tmp_path / "root.pem", made.anchors_pem, 0o644)
    assert read_trust_anchors(root) == made.anchors_pem
    with pytest.raises(InvalidInput, match="holds a private key"):
        read_trust_anchors(_write(tmp_path / "key.pem", made.key_pem))
    with pytest.raises(InvalidInput, match="holds no PEM certificate"):
        read_trust_anchors(_write(tmp_path / "notes.txt", b"not a certificate\n"))
    with pytest.raises(InvalidInput, match="cannot read"):
        read_trust_anchors(tmp_path / "missing.pem")
    chain = _write(tmp_path / "chain.pem", made.chain_pem, 0o644)
    assert chain_root_pem(chain) == made.anchors_pem
