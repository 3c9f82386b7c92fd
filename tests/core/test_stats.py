"""Tests of custodes.core.stats: tails, thresholds and who gets named.

Reference values of the Gaussian upper tail Q(z) = erfc(z / sqrt 2) / 2 are the usual
table values (e.g. Abramowitz and Stegun 26.2, and any arbitrary-precision erfc); the
far tail is checked against the Mills-ratio asymptotic series, whose truncation error at
z = 37 after five terms is below 1e-12 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custodes.core import stats
from custodes.core.errors import InvalidInput

Q_TABLE = [
    (0.0, 0.5),
    (1.0, 0.15865525393145707),
    (1.959963984540054, 0.025),
    (5.0, 2.866515718791939e-07),
    (6.0, 9.865876450376946e-10),
    (10.0, 7.619853024160525e-24),
]


def mills(z: float) -> float:
    z2 = z * z
    series = 1 - 1 / z2 + 3 / z2**2 - 15 / z2**3 + 105 / z2**4 - 945 / z2**5
    return math.exp(-z2 / 2) / (z * math.sqrt(2 * math.pi)) * series


@pytest.mark.parametrize(("z", "q"), Q_TABLE)
def test_gaussian_sf_table(z: float, q: float) -> None:
    assert stats.gaussian_sf(z) == pytest.approx(q, rel=1e-12)


def test_gaussian_sf_far_tail_down_to_1e_300() -> None:
    for z in (20.0, 30.0, 37.0):
        assert stats.gaussian_sf(z) == pytest.approx(mills(z), rel=1e-9)
    assert 1e-301 < stats.gaussian_sf(37.0) < 1e-298
    assert stats.gaussian_sf(-40.0) == 1.0


def test_gaussian_log10_sf_is_continuous_past_underflow() -> None:
    below = stats.gaussian_log10_sf(36.999999)
    above = stats.gaussian_log10_sf(37.0)
    assert below == pytest.approx(above, abs=1e-4)
    assert stats.gaussian_log10_sf(100.0) == pytest.approx(
        math.log10(mills(100.0)) if mills(100.0) > 0 else -2173.87, rel=1e-3
    )
    assert math.isfinite(stats.gaussian_log10_sf(1000.0))


@pytest.mark.parametrize("p", [0.5, 0.025, 1e-8, 1e-100, 1e-300])
def test_gaussian_isf_inverts_sf(p: float) -> None:
    assert stats.gaussian_sf(stats.gaussian_isf(p)) == pytest.approx(p, rel=1e-8)


def test_gaussian_isf_refuses_non_probabilities() -> None:
    for p in (0.0, 1.0, -1.0, 2.0):
        with pytest.raises(InvalidInput):
            stats.gaussian_isf(p)


def test_empirical_null_and_p_value() -> None:
    mean, std = stats.empirical_null([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert std == pytest.approx(math.sqrt(5 / 3))
    assert stats.p_value(2.5, 2.5, 1.0) == 0.5
    assert stats.p_value(8.0, 2.0, 1.0) == pytest.approx(Q_TABLE[4][1], rel=1e-12)
    with pytest.raises(InvalidInput):
        stats.empirical_null([1.0])
    with pytest.raises(InvalidInput):
        stats.empirical_null([1.0, math.inf])
    with pytest.raises(InvalidInput):
        stats.p_value(1.0, 0.0, 0.0)
    with pytest.raises(InvalidInput):
        stats.p_value(math.nan, 0.0, 1.0)


def test_family_thresholds() -> None:
    assert stats.family_threshold(1e-6, 100) == pytest.approx(1e-8)
    sidak = stats.family_threshold(1e-6, 100, "sidak")
    assert 1e-8 < sidak < 1.000001e-8
    assert stats.family_threshold(0.05, 1) == 0.05
    assert stats.z_threshold(1e-6, 100) == pytest.approx(5.612, abs=1e-3)
    for alpha, n in ((0.0, 10), (1.0, 10), (0.01, 0)):
        with pytest.raises(InvalidInput):
            stats.family_threshold(alpha, n)
    with pytest.raises(InvalidInput):
        stats.family_threshold(0.01, 3, "holm")  # type: ignore[arg-type]


def null_sample(n: int = 1000, seed: int = 0, mean: float = 0.0, std: float = 1.0) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed).normal(mean, std, n)]


def test_attribute_names_a_clear_winner_only() -> None:
    scores = {"alice": 31.2, "bob": 0.4, "carol": -1.1}
    out = stats.attribute(scores, null_sample())
    assert [a.candidate for a in out] == ["alice", "bob", "carol"]
    assert [a.attributed for a in out] == [True, False, False]
    assert out[0].p_value < 1e-100
    assert out[0].threshold == pytest.approx(1e-6 / 3)
    assert out[0].log10_p < -100


def test_attribute_threshold_is_corrected_for_the_number_of_candidates() -> None:
    # z = 5.4 passes for one candidate (alpha 1e-6: z 4.75) but not among 1000 (z 6.3).
    one = stats.attribute({"x": 5.4}, null_sample())
    many = stats.attribute({"x": 5.4} | {f"c{i}": 0.0 for i in range(999)}, null_sample())
    assert one[0].attributed
    assert not many[0].attributed


def test_p_value_never_below_the_model() -> None:
    # A null that came out too narrow would make 5.0 look like 1e-20; the model floor says 3e-7.
    narrow = null_sample(std=0.5)
    out = stats.attribute({"x": 5.0}, narrow)
    assert out[0].p_value == pytest.approx(stats.gaussian_sf(5.0))
    # A wider or shifted null only makes the p-value larger.
    wide = stats.attribute({"x": 5.0}, null_sample(std=2.0))
    shifted = stats.attribute({"x": 5.0}, null_sample(mean=1.5))
    assert wide[0].p_value > out[0].p_value
    assert shifted[0].p_value > out[0].p_value


def test_model_sf_is_used_as_the_floor() -> None:
    def heavier(z: float) -> float:
        return min(1.0, 10 * stats.gaussian_sf(z))

    plain = stats.attribute({"x": 6.0}, null_sample())
    floored = stats.attribute({"x": 6.0}, null_sample(), model_sf=heavier)
    assert floored[0].p_value == pytest.approx(10 * plain[0].p_value, rel=0.05)


def test_all_equal_null_falls_back_to_the_model() -> None:
    out = stats.attribute({"x": 0.0, "y": 0.0}, [0.0] * 100)
    assert [a.p_value for a in out] == [0.5, 0.5]
    assert not any(a.attributed for a in out)


def test_attribute_edge_cases() -> None:
    assert stats.attribute({}, null_sample()) == []
    with pytest.raises(InvalidInput):
        stats.attribute({"x": math.nan}, null_sample())
    with pytest.raises(InvalidInput):
        stats.attribute({"x": 1.0}, [0.0])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_candidates=st.integers(1, 300),
    null_std=st.floats(0.7, 1.5),
)
def test_pure_noise_names_nobody(seed: int, n_candidates: int, null_std: float) -> None:
    """Candidates and null keys drawn from the same distribution: no one is ever named.

    With alpha 1e-6 the chance of a false name over all examples is about 6e-5.
    """
    rng = np.random.default_rng(seed)
    null = (rng.normal(0, null_std, 1000)).tolist()
    scores = {f"c{i}": float(v) for i, v in enumerate(rng.normal(0, null_std, n_candidates))}
    assert not [a for a in stats.attribute(scores, null) if a.attributed]
