"""Checking a copy's Content Credentials, and the vault's root to publish."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import NotFound
from custodes.core.jsontext import jsonable
from custodes.services import provenance


class _Keys:
    """A key store that only knows its trust anchors, and counts the asks."""

    def __init__(self, anchors: bytes | None) -> None:
        self.anchors = anchors
        self.asked = 0

    def trust_anchors(self) -> bytes | None:
        self.asked += 1
        return self.anchors


def test_a_file_without_credentials_is_not_found(clips: dict[str, Path]) -> None:
    keys = _Keys(None)
    with pytest.raises(NotFound, match="no Content Credentials"):
        provenance.check_copy(keys, clips["b"])  # type: ignore[arg-type]
    assert keys.asked == 1  # the vault's own anchors, when the caller names none


def test_given_anchors_are_used_instead_of_the_vaults(clips: dict[str, Path]) -> None:
    keys = _Keys(b"never read")
    with pytest.raises(NotFound):
        provenance.check_copy(keys, clips["b"], b"")  # type: ignore[arg-type]
    assert keys.asked == 0


def test_vault_root_is_what_its_key_store_trusts(sqlite_vault: Vault) -> None:
    root = provenance.vault_root(sqlite_vault)
    assert b"BEGIN CERTIFICATE" in root
    assert sqlite_vault.keys.trust_anchors() == root


def test_a_copys_credentials_are_read_as_a_typed_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = {
        "file": str(tmp_path / "copy.mp4"),
        "state": "Trusted",
        "trusted": True,
        "failures": [{"code": "x.y", "explanation": "why"}],
        "signer": {"issuer": "Dept", "common_name": "Vault", "alg": "Ed25519", "time": None},
        "title": "copy.mp4",
        "claim_generator": ["custodes"],
        "ingredients": [{"title": "original.mp4", "instance_id": "xmp:iid:1"}],
        "actions": [{"action": "c2pa.filtered", "description": "faces blurred"}],
        "lineage": {"source": {"evidence_id": "EV-1"}},
    }
    monkeypatch.setattr(provenance, "read_credentials", lambda _file, _anchors: found)
    check = provenance.check_copy(_Keys(None), tmp_path / "copy.mp4")  # type: ignore[arg-type]
    # The JSON of `custodes provenance` keeps its keys, and says what the signer was
    # checked against: here nothing (no anchors given, none in a vault).
    assert jsonable(check) == {**found, "checked_against": None}
    assert check.signer.common_name == "Vault" and check.actions[0].action == "c2pa.filtered"


def test_a_check_says_what_the_signer_was_checked_against(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[bytes | None] = []

    def read(_file: Path, anchors: bytes | None) -> dict:
        seen.append(anchors)
        return {
            "file": str(_file),
            "state": "Trusted" if anchors else "Valid",
            "trusted": bool(anchors),
            "failures": [],
            "signer": {"issuer": None, "common_name": None, "alg": None, "time": None},
            "title": None,
            "claim_generator": [],
            "ingredients": [],
            "actions": [],
            "lineage": None,
        }

    monkeypatch.setattr(provenance, "read_credentials", read)
    copy = tmp_path / "copy.mp4"
    given = provenance.check_copy(_Keys(b"vault root"), copy, b"published root")  # type: ignore[arg-type]
    own = provenance.check_copy(_Keys(b"vault root"), copy)  # type: ignore[arg-type]
    none = provenance.check_copy(_Keys(None), copy)  # type: ignore[arg-type]
    assert seen == [b"published root", b"vault root", None]
    assert (given.checked_against, own.checked_against) == ("given", "vault")
    assert (none.checked_against, none.state, none.trusted) == (None, "Valid", False)
