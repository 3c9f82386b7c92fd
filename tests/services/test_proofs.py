"""Issuing inclusion and consistency proofs."""

from __future__ import annotations

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import InvalidInput
from custodes.services import proofs


def test_negative_numbers_are_bad_input(sqlite_vault: Vault) -> None:
    with pytest.raises(InvalidInput, match="0 or more, not -1"):
        proofs.prove_inclusion(sqlite_vault, "admin", -1)
    for size in (0, -3):
        with pytest.raises(InvalidInput, match=f"--tree-size must be .* not {size}"):
            proofs.prove_inclusion(sqlite_vault, "admin", 0, size)
        with pytest.raises(InvalidInput, match=f"new size must be .* not {size}"):
            proofs.prove_consistency(sqlite_vault, "admin", 1, size)
    assert proofs.prove_inclusion(sqlite_vault, "admin", 0, 2)["format"]
