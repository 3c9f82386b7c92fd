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
        with pytest.raises(InvalidInput, match=f"^tree_size must be .* not {size}") as err:
            proofs.prove_inclusion(sqlite_vault, "admin", 0, size)
        assert err.value.field == "tree_size"
        with pytest.raises(InvalidInput, match=f"new_size must be .* not {size}") as err:
            proofs.prove_consistency(sqlite_vault, "admin", 1, size)
        assert err.value.field == "new_size"
    assert proofs.prove_inclusion(sqlite_vault, "admin", 0, 2)["format"]
