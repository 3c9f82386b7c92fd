"""Issuing inclusion and consistency proofs."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import InvalidInput
from custodes.services import evidence, proofs
from custodes.services.audit import public_vkey
from custodes.services.events import list_audit
from tests.factories import add_case, add_user


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
    assert proofs.prove_inclusion(sqlite_vault, "admin", 0, 3)["format"]


def test_checked_proofs_are_typed_and_issuing_one_is_on_record(sqlite_vault: Vault) -> None:
    vault = sqlite_vault
    inclusion = proofs.prove_inclusion(vault, "admin", 1)
    checked = proofs.verify_bundle(inclusion, public_vkey(vault), vault.verify_signature)
    assert isinstance(checked, proofs.InclusionChecked)
    # The tree of a new vault: vault-init, user-add, policy-set.
    assert (checked.kind, checked.origin, checked.tree_size) == ("inclusion", vault.origin, 3)
    assert checked.event["action"] == "user-add" and "prev" not in checked.event
    consistency = proofs.prove_consistency(vault, "admin", 3)
    linked = proofs.verify_bundle(consistency, public_vkey(vault), vault.verify_signature)
    assert isinstance(linked, proofs.ConsistencyChecked)
    assert (linked.old_size, linked.new_size) == (3, 4)  # the first proof's event
    issued = [e for e in list_audit(vault, "admin") if e.action == "proof-issued"]
    assert [e.details["kind"] for e in issued] == ["inclusion", "consistency"]
    assert all(e.object_type is None and e.object_id is None for e in issued)
    with pytest.raises(InvalidInput, match="unknown proof format"):
        proofs.verify_bundle({"format": "nope"}, public_vkey(vault), vault.verify_signature)
    with pytest.raises(InvalidInput, match="one JSON object"):
        proofs.verify_bundle([], public_vkey(vault), vault.verify_signature)


def test_an_event_of_evidence_is_proven_naming_its_case_and_evidence(
    sqlite_vault: Vault, clips: dict[str, Path]
) -> None:
    vault = sqlite_vault
    rec = add_user(vault, "records")
    number = add_case(vault)
    evidence.ingest(vault, rec, clips["a"], number)
    ingested = [e for e in list_audit(vault, "admin") if e.action == "ingest"][-1]
    proofs.prove_inclusion(vault, "admin", ingested.seq)
    issued = list_audit(vault, "admin")[-1]
    assert (issued.action, issued.case, issued.evidence) == (
        "proof-issued",
        number,
        ingested.evidence,
    )
    assert (issued.object_type, issued.object_id) == (None, None)
