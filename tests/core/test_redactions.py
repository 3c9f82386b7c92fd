"""What a person may accept a redaction as covering, and what a copy's portion hides."""

from __future__ import annotations

import pytest

from custodes.core import redactions as r
from custodes.core.errors import CustodyConflict, InvalidInput, ReasonRequired

FACES_AND_PLATE = {
    "faces": {"searched": True, "boxes": 12, "frames": 6, "spans": [[0.0, 0.4]]},
    "regions": [{"label": "plate", "boxes": 30, "frames": 30, "spans": [[0.0, 2.0]]}],
}
EMPTY_FACES = {"faces": {"searched": True, "boxes": 0, "frames": 0, "spans": []}, "regions": []}
PLATE_ONLY = {
    "faces": {"searched": False, "boxes": 0, "frames": 0, "spans": []},
    "regions": [{"label": "Licence plate", "boxes": 4, "frames": 4, "spans": [[1.0, 1.2]]}],
}


def test_kinds_are_parsed_from_commas_and_repeats() -> None:
    assert r.parse_kinds(["faces,plates", "audio"]) == ("audio", "faces", "plates")
    with pytest.raises(InvalidInput, match="unknown redaction kind 'tattoos'"):
        r.parse_kinds(["faces,tattoos"])
    with pytest.raises(InvalidInput, match="made by the release itself"):
        r.parse_kinds(["cut"])
    with pytest.raises(InvalidInput, match="name the kinds"):
        r.parse_kinds([" , "])


def test_a_claim_must_be_one_the_redaction_can_have_covered() -> None:
    assert r.check_claim("RD-1", ["minors", "plates"], FACES_AND_PLATE, None) == {
        "minors": 12,
        "plates": 30,
    }
    # A plate is covered only by a region labelled as one; faces only by a face search.
    with pytest.raises(CustodyConflict, match="cannot cover plates: it has no drawn region"):
        r.check_claim("RD-1", ["plates"], EMPTY_FACES, "none")
    with pytest.raises(CustodyConflict, match="cannot cover faces: it neither searched"):
        r.check_claim("RD-1", ["faces"], PLATE_ONLY, "none")
    with pytest.raises(CustodyConflict, match="mutes no audio"):
        r.check_claim("RD-1", ["audio"], FACES_AND_PLATE, None)
    assert r.check_claim("RD-1", ["plates"], PLATE_ONLY, None) == {"plates": 4}


def test_an_empty_plan_needs_a_reason() -> None:
    with pytest.raises(ReasonRequired, match=r"hides nothing of faces \(0 boxes\)"):
        r.check_claim("RD-1", ["faces"], EMPTY_FACES, None)
    assert r.check_claim("RD-1", ["faces"], EMPTY_FACES, "no faces in view") == {"faces": 0}


def test_spans_are_covered_cut_and_clipped() -> None:
    assert r.uncovered([(1.0, 3.0)], [(0.0, 2.0), (2.0, 4.0)]) == []
    assert r.uncovered([(1.0, 3.0)], [(0.0, 2.0)]) == [(2.0, 3.0)]
    assert r.uncovered([(0.0, 5.0)], [(1.0, 2.0)]) == [(0.0, 1.0), (2.0, 5.0)]
    assert r.subtract([(0.0, 10.0)], [(2.0, 3.0), (8.0, 12.0)]) == [(0.0, 2.0), (3.0, 8.0)]
    assert r.subtract([(0.0, 1.0)], [(5.0, 6.0)]) == [(0.0, 1.0)]
    assert r.clipped([(0.0, 1.0), (2.0, 3.0)], 0.5, 2.5) == [[0.5, 1.0], [2.0, 2.5]]


def test_a_portion_states_only_what_it_hides() -> None:
    applied = {**FACES_AND_PLATE, "audio": {"mode": "mute", "ranges": [[1.5, 2.0]]}}
    early = r.within(applied, 0.0, 1.0, 15.0)
    assert early["faces"] == {"searched": True, "frames": 6, "spans": [[0.0, 0.4]]}
    assert early["audio"] == {"mode": "mute", "ranges": []}
    assert r.describe(early) == [
        "faces blurred in 6 frames (0-0.4 s)",
        "region 'plate' blurred in 15 frames (0-1 s)",
    ]
    late = r.within(applied, 1.0, 2.0, 15.0)
    assert r.describe(late, "boxed") == [
        "region 'plate' boxed in 15 frames (1-2 s)",
        "audio muted over 1.5-2 s",
    ]
    assert r.describe(r.within(EMPTY_FACES, 0.0, 2.0, 15.0)) == []
