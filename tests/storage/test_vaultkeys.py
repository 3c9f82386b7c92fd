"""The vault's keys on its own disk: what a reader of its copies should trust."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.core.errors import InvalidInput
from custodes.storage.credentials import load_or_create_credential
from custodes.storage.vaultkeys import FileKeyStore


def _store(home: Path, **c2pa: Path) -> FileKeyStore:
    return FileKeyStore(home, "", agency="PD", **c2pa)


def test_trust_anchors_in_order_of_precedence(tmp_path: Path) -> None:
    home = tmp_path / "v"
    assert _store(home).trust_anchors() is None  # none yet, and none made
    assert not home.exists()
    made = load_or_create_credential(home, "PD")
    assert _store(home).trust_anchors() == made.anchors_pem
    # A configured chain's last certificate, where the vault made none.
    other = load_or_create_credential(tmp_path / "dept", "Dept")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(other.chain_pem)
    assert _store(tmp_path / "empty", c2pa_cert=chain).trust_anchors() == other.anchors_pem
    # Configured trust anchors come first of all.
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(other.anchors_pem + made.anchors_pem)
    assert _store(home, c2pa_trust_anchors=anchors).trust_anchors() == anchors.read_bytes()


def test_a_configured_chain_that_is_not_pem_is_bad_input(tmp_path: Path) -> None:
    junk = tmp_path / "chain.pem"
    junk.write_bytes(b"hello")
    with pytest.raises(InvalidInput, match=r"not a PEM certificate chain|holds no certificate"):
        _store(tmp_path / "v", c2pa_cert=junk).trust_anchors()
