"""custodes.core.attribution: grouping by mark parameters, the trace-wide threshold."""

from __future__ import annotations

import math
import random

import pytest

from custodes.core import attribution, stats
from custodes.core.attribution import GroupScores, MarkedCopy
from custodes.core.errors import InvalidInput
from custodes.core.watermark import MarkParams


def null_sample(n: int = 1000, seed: int = 7) -> list[float]:
    """Never-issued keys' scores: standard Gaussian, as the watermark model says."""
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(n)]


DEFAULT = MarkParams().to_dict()
COARSE = MarkParams(grid_w=24, grid_h=14).to_dict()


# --------------------------------------------------------------------------- grouping


def test_copies_with_the_same_parameters_share_a_group_in_order_of_appearance() -> None:
    groups = attribution.group_by_mark(
        [
            MarkedCopy("EX-1", COARSE),
            MarkedCopy("EX-2", DEFAULT),
            MarkedCopy("EX-3", dict(reversed(list(COARSE.items())))),  # key order is no matter
        ]
    )
    assert [g.copy_ids for g in groups] == [("EX-1", "EX-3"), ("EX-2",)]
    assert groups[0].params == MarkParams(grid_w=24, grid_h=14)
    assert groups[1].params == MarkParams()
    assert groups[0].key == attribution.mark_key(COARSE)
    assert groups[0].key != groups[1].key


def test_grouping_keys_are_canonical_json() -> None:
    assert attribution.mark_key({"b": 1, "a": 2.5}) == '{"a": 2.5, "b": 1}'
    assert attribution.mark_key({"a": 2.5, "b": 1}) == attribution.mark_key({"b": 1, "a": 2.5})
    assert attribution.mark_key({"strength": 1.0}) != attribution.mark_key({"strength": 2.0})


def test_no_candidate_still_gives_one_group_with_default_parameters() -> None:
    (group,) = attribution.group_by_mark([])
    assert group.copy_ids == ()
    assert group.params == MarkParams()


def test_unknown_mark_parameters_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown watermark parameters"):
        attribution.group_by_mark([MarkedCopy("EX-1", {**DEFAULT, "colour": 3})])


# --------------------------------------------------------------------------- threshold


def test_the_threshold_is_alpha_over_every_candidate_of_the_trace() -> None:
    null = null_sample()
    out = attribution.attribute_groups(
        [
            GroupScores({"a": 0.1, "b": -0.3}, null),
            GroupScores({"c": 0.2, "d": 0.0, "e": 1.0}, null),
        ],
        1e-6,
    )
    assert set(out) == {"a", "b", "c", "d", "e"}
    for a in out.values():
        # Whatever the group's size, each candidate faces alpha / 5.
        assert a.threshold == pytest.approx(1e-6 / 5, rel=1e-12)
        assert not a.attributed


def test_the_threshold_shrinks_with_more_candidates() -> None:
    null = null_sample()
    thresholds = []
    for n in (1, 2, 10, 100):
        scores = {f"c{i}": 0.0 for i in range(n)}
        out = attribution.attribute_groups([GroupScores(scores, null)], 1e-6)
        thresholds.append(out["c0"].threshold)
    assert thresholds == sorted(thresholds, reverse=True)
    assert len(set(thresholds)) == 4
    # Candidates in another group count too.
    alone = attribution.attribute_groups([GroupScores({"x": 0.0}, null)], 1e-6)
    crowded = attribution.attribute_groups(
        [GroupScores({"x": 0.0}, null), GroupScores({f"o{i}": 0.0 for i in range(9)}, null)],
        1e-6,
    )
    assert crowded["x"].threshold == pytest.approx(alone["x"].threshold / 10, rel=1e-12)


def test_a_score_named_alone_is_not_named_among_many() -> None:
    # p(5.4) is about 3.3e-8: below 1e-6 / 1, above 1e-6 / 1000.
    null = null_sample()
    alone = attribution.attribute_groups([GroupScores({"x": 5.4}, null)], 1e-6)
    assert alone["x"].attributed
    others = {f"c{i}": 0.0 for i in range(999)}
    crowded = attribution.attribute_groups(
        [GroupScores({"x": 5.4}, null), GroupScores(others, null)], 1e-6
    )
    assert crowded["x"].p_value == pytest.approx(alone["x"].p_value)
    assert crowded["x"].p_value > crowded["x"].threshold
    assert not crowded["x"].attributed


def test_a_candidate_at_or_above_the_threshold_is_not_attributed() -> None:
    null = null_sample()
    strong, weak = 8.0, 2.0
    out = attribution.attribute_groups([GroupScores({"leaker": strong, "other": weak}, null)], 1e-6)
    assert out["leaker"].attributed and out["leaker"].p_value < out["leaker"].threshold
    assert not out["other"].attributed and out["other"].p_value >= out["other"].threshold


def test_the_model_floor_applies_in_every_group() -> None:
    null = null_sample()

    def heavier(z: float) -> float:
        return min(1.0, 1e4 * stats.gaussian_sf(z))

    plain = attribution.attribute_groups([GroupScores({"x": 6.0}, null)], 1e-6)
    floored = attribution.attribute_groups([GroupScores({"x": 6.0}, null)], 1e-6, model_sf=heavier)
    assert plain["x"].attributed
    assert floored["x"].p_value == pytest.approx(heavier(6.0))
    assert not floored["x"].attributed


def test_groups_without_candidates_are_skipped() -> None:
    out = attribution.attribute_groups(
        [GroupScores({}, null_sample()), GroupScores({"a": 0.0}, null_sample(seed=8))], 1e-6
    )
    assert list(out) == ["a"]
    assert out["a"].threshold == pytest.approx(1e-6)
    assert attribution.attribute_groups([], 1e-6) == {}


def test_candidate_threshold_and_false_accusation() -> None:
    assert attribution.candidate_threshold(1e-6, 4) == pytest.approx(2.5e-7)
    assert attribution.candidate_threshold(1e-6, 0) == pytest.approx(1e-6)
    assert attribution.trace_false_accusation([1e-9, 0.5, 0.2]) == pytest.approx(3e-9)
    assert attribution.trace_false_accusation([0.4]) == pytest.approx(0.4)


# --------------------------------------------------------------------------- null summary


def test_null_summary() -> None:
    scores = [0.5, -1.0, 2.0, 0.5]
    s = attribution.summarize_null(scores)
    assert s.keys == 4 and s.max == 2.0
    assert s.mean == pytest.approx(0.5)
    assert s.std == pytest.approx(math.sqrt(1.5))
    empty = attribution.summarize_null([])
    assert (empty.keys, empty.mean, empty.std, empty.max) == (0, 0.0, 1.0, 0.0)
    one = attribution.summarize_null([3.0])
    assert (one.keys, one.mean, one.std, one.max) == (1, 0.0, 1.0, 3.0)


def test_a_trace_states_no_p_value_below_the_floor() -> None:
    tiny = stats.gaussian_sf(40.0) * 3.18  # what the tail bound gives a strong mark
    assert tiny < 1e-300
    stated = attribution.state_p(tiny)
    assert (stated.value, stated.below) == (attribution.P_FLOOR, True)
    assert attribution.state_p(0.0) == attribution.StatedP(attribution.P_FLOOR, True)
    assert attribution.state_p(1e-4) == attribution.StatedP(1e-4, False)
    # The floor stays below the naming threshold of any trace of under 1,000 candidates.
    assert attribution.candidate_threshold(1e-6, 999) > attribution.P_FLOOR


def test_null_exceedances_count_the_never_issued_keys_as_high() -> None:
    null = [0.1, -1.0, 2.5, 3.0, 2.5]
    assert attribution.null_exceedances(2.5, null) == 3
    assert attribution.null_exceedances(40.0, null) == 0
