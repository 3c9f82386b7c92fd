"""Tests of custodes.core.watermark: keys, patterns, mask, embedding and informed detection.

Known-answer vectors
--------------------
* ``PHILOX_KAT``: the three ``philox4x32 10`` lines of Random123's ``tests/kat_vectors``
  (github.com/DEShawResearch/random123; columns: counter[4], key[2], output[4], hex).
* ``PATTERN_KAT``: regression vectors made with this module when the derivation was
  fixed (secret ``0123456789abcdef`` twice, export id ``EXP-2026-000001``, default
  parameters). They pin the whole chain secret -> key -> chips: if they ever change,
  every export issued before can no longer be traced, so they must not be "updated".
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time

import numpy as np
import pytest

from custodes.core import stats
from custodes.core import watermark as wm
from custodes.core.errors import InvalidInput

PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]

PATTERN_KAT = {
    "key": "a63841e88759c54179d847d7ff3a6124f5b1a2ad9c7647d0e15f88be46686031",
    # first 16 packed bytes of the chips of periods 0, -1 and 12345
    0: "585a791b8de99e40875a652def335acf",
    -1: "4d5109ec64766bb66816f82f83c55239",
    12345: "e4a35d7926883dbf0b3db5f70820e85b",
    "null_key_1": "29759a0fb59010875ef67579190bb04b95dfa3792e3e9c64f6300569c2b0ef34",
}

SECRET = b"vault-secret-for-tests-0123456789"
W, H = 192, 108  # small frames: these tests are about the algebra, not the codec
PARAMS = wm.MarkParams(grid_w=24, grid_h=14, period_s=0.5, strength=1.0)
FPS = 15


def textured_frame(seed: int, w: int = W, h: int = H) -> np.ndarray:
    """A luma plane with flat, textured, dark and bright parts (uint8)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    y = 90.0 + 60.0 * xx / w + 20.0 * np.sin(yy / 9.0)
    y[:, w // 3 : 2 * w // 3] += rng.normal(0, 14, (h, 2 * w // 3 - w // 3))
    y[: h // 4, : w // 4] = 8.0
    out: np.ndarray = np.clip(y, 0, 255).astype(np.uint8)
    return out


def keys_for(n: int, tag: str = "cand") -> list[bytes]:
    return [wm.derive_key(SECRET, f"{tag}-{i}") for i in range(n)]


# -- keys and parameters -----------------------------------------------------------------


def test_derive_key_is_domain_separated_hmac_sha256() -> None:
    msg = b"custodes/watermark/export-key\x00" + (1).to_bytes(4, "big") + b"exp-1"
    assert wm.derive_key(SECRET, "exp-1") == hmac.new(SECRET, msg, hashlib.sha256).digest()
    # ... and not the bare HMAC of the export id.
    assert wm.derive_key(SECRET, "exp-1") != hmac.new(SECRET, b"exp-1", hashlib.sha256).digest()


def test_keys_are_stable_and_differ_by_export_secret_and_version() -> None:
    k = wm.derive_key(SECRET, "exp-1")
    assert len(k) == 32
    assert wm.derive_key(SECRET, "exp-1") == k
    assert wm.derive_key(SECRET, "exp-2") != k
    assert wm.derive_key(SECRET + b"!", "exp-1") != k
    assert wm.derive_key(SECRET, "exp-1", key_version=2) != k


@pytest.mark.parametrize(
    ("secret", "export_id", "version"),
    [(b"short", "exp", 1), (SECRET, "", 1), (SECRET, "exp", 0)],
)
def test_derive_key_refuses_bad_input(secret: bytes, export_id: str, version: int) -> None:
    with pytest.raises(InvalidInput):
        wm.derive_key(secret, export_id, version)


def test_null_keys_are_distinct_from_each_other_and_from_export_keys() -> None:
    nulls = wm.null_keys(b"seed", 50)
    assert len(set(nulls)) == 50
    assert wm.null_keys(b"seed", 50) == nulls
    assert not set(nulls) & set(keys_for(50))


def test_params_round_trip_and_validation() -> None:
    p = wm.MarkParams(grid_w=40, grid_h=22, period_s=0.75, strength=1.5)
    assert wm.MarkParams.from_dict(p.to_dict()) == p
    assert wm.MarkParams.from_dict({}) == wm.MarkParams()
    with pytest.raises(InvalidInput):
        wm.MarkParams.from_dict({"grid_w": 32, "colour": "red"})
    with pytest.raises(InvalidInput):
        wm.MarkParams.from_dict({"grid_w": "many"})
    for bad in ({"grid_w": 1}, {"period_s": 0.0}, {"strength": -1.0}, {"version": 2}):
        with pytest.raises(InvalidInput):
            wm.MarkParams.from_dict(bad)


# -- patterns ------------------------------------------------------------------------------


@pytest.mark.parametrize(("ctr", "key", "expected"), PHILOX_KAT)
def test_philox4x32_known_answers(
    ctr: tuple[int, ...], key: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    out = wm.philox4x32(np.array(ctr, np.uint64), np.array(key, np.uint64))
    assert tuple(int(v) for v in out) == expected


def test_philox4x32_broadcasts_like_single_calls() -> None:
    ctr = np.array([[i, 7, 0, 1] for i in range(5)], np.uint64)
    keys = np.array([[[1, 2]], [[3, 4]]], np.uint64)
    batch = wm.philox4x32(ctr[None], keys)
    assert batch.shape == (2, 5, 4)
    for k in range(2):
        for i in range(5):
            assert np.array_equal(batch[k, i], wm.philox4x32(ctr[i], keys[k, 0]))


def test_patterns_are_deterministic_binary_and_differ_by_key_and_period() -> None:
    key = wm.derive_key(SECRET, "exp-1")
    p = wm.coarse_pattern(key, 3, PARAMS)
    assert p.shape == (PARAMS.grid_h, PARAMS.grid_w)
    assert p.dtype == np.float64
    assert set(np.unique(p)) == {-1.0, 1.0}
    assert np.array_equal(p, wm.coarse_pattern(key, 3, PARAMS))
    n = PARAMS.cells
    for other in (wm.coarse_pattern(key, 4, PARAMS), wm.coarse_pattern(key, -3, PARAMS)):
        assert abs(float((p * other).sum())) < 5 * math.sqrt(n)
    other_key = wm.coarse_pattern(wm.derive_key(SECRET, "exp-2"), 3, PARAMS)
    assert abs(float((p * other_key).sum())) < 5 * math.sqrt(n)
    # The grid size is part of the derivation: a 32x18 mark is not a crop of a 24x14 one.
    big = wm.coarse_pattern(key, 3, wm.MarkParams(grid_w=32, grid_h=18))
    assert not np.array_equal(big.ravel()[:n], p.ravel())


def test_patterns_have_zero_mean_unit_variance_and_no_correlation() -> None:
    keys = keys_for(20)
    periods = list(range(-10, 40))
    packed = wm.pattern_bytes(keys, periods, PARAMS)
    chips = 2.0 * np.unpackbits(packed, axis=2, bitorder="little")[..., : PARAMS.cells] - 1.0
    n = chips.size
    assert abs(chips.mean()) < 4 / math.sqrt(n)
    assert chips.var() == pytest.approx(1.0, abs=1e-3)
    # Neighbouring cells and neighbouring periods are uncorrelated.
    grid = chips.reshape(len(keys), len(periods), PARAMS.grid_h, PARAMS.grid_w)
    assert abs(float((grid[..., 1:] * grid[..., :-1]).mean())) < 0.01
    assert abs(float((grid[:, 1:] * grid[:, :-1]).mean())) < 0.01


def test_pattern_derivation_known_answers() -> None:
    key = wm.derive_key(b"0123456789abcdef" * 2, "EXP-2026-000001")
    assert key.hex() == PATTERN_KAT["key"]
    packed = wm.pattern_bytes([key], [0, -1, 12345], wm.MarkParams())
    for row, period in zip(packed[0], (0, -1, 12345), strict=True):
        assert row[:16].tobytes().hex() == PATTERN_KAT[period]
    assert wm.null_keys(b"seed", 2)[1].hex() == PATTERN_KAT["null_key_1"]


def test_batched_bytes_match_single_patterns() -> None:
    keys = keys_for(3)
    periods = [-2, 0, 5, 6]
    packed = wm.pattern_bytes(keys, periods, PARAMS)
    for i, key in enumerate(keys):
        for j, period in enumerate(periods):
            bits = np.unpackbits(packed[i, j], bitorder="little")[: PARAMS.cells]
            expected = wm.coarse_pattern(key, period, PARAMS).ravel()
            assert np.array_equal(2.0 * bits - 1.0, expected)


# -- time, mask and upsampling --------------------------------------------------------------


def test_temporal_weights_sum_to_one_and_are_continuous() -> None:
    ts = np.linspace(-1.3, 3.1, 4001)
    prev: dict[int, float] | None = None
    for t in ts:
        (p0, w0), (p1, w1) = wm.temporal_weights(float(t), PARAMS)
        assert p1 == p0 + 1
        assert 0.0 <= w1 <= 1.0 and 0.0 <= w0 <= 1.0
        assert w0 + w1 == pytest.approx(1.0)
        now = {p0: w0, p1: w1}
        if prev is not None:
            for p in set(now) | set(prev):
                # a step of 1.1 ms moves a weight by at most pi/2 * 1.1/500 ~ 0.0035
                assert abs(now.get(p, 0.0) - prev.get(p, 0.0)) < 0.005
        prev = now
    # Each pattern is fully on at the start of its period.
    assert wm.temporal_weights(1.5, PARAMS) == ((3, 1.0), (4, 0.0))


def test_temporal_weights_refuse_non_finite_time() -> None:
    with pytest.raises(InvalidInput):
        wm.temporal_weights(math.nan, PARAMS)


def test_mask_is_weak_on_flat_dark_and_strong_in_texture() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((H, W), 120, np.uint8)
    texture = np.clip(120 + rng.normal(0, 15, (H, W)), 0, 255).astype(np.uint8)
    dark_texture = np.clip(10 + rng.normal(0, 4, (H, W)), 0, 255).astype(np.uint8)
    m_flat = wm.perceptual_mask(flat)
    m_tex = wm.perceptual_mask(texture)
    m_dark = wm.perceptual_mask(dark_texture)
    assert m_flat.dtype == np.float32 and m_flat.shape == (H, W)
    assert float(m_flat.max()) <= 0.35
    assert float(m_tex.mean()) > 1.3
    assert float(m_dark.mean()) < float(m_tex.mean()) / 2
    mixed = wm.perceptual_mask(textured_frame(1))
    assert 0.5 < float(mixed.mean()) < 1.5
    assert float(mixed.min()) >= 0.25 and float(mixed.max()) <= 2.5


def test_mask_handles_odd_sizes() -> None:
    y = textured_frame(2, 101, 57)
    assert wm.perceptual_mask(y).shape == (57, 101)
    with pytest.raises(InvalidInput):
        wm.perceptual_mask(np.zeros((5,), np.uint8))


def _reference_mask(y: np.ndarray) -> np.ndarray:
    """``perceptual_mask`` as first written: float32 bins, box means by cumulative sums
    over an edge-padded array, expansion by ``np.repeat`` and ``np.pad``. The faster
    version must give the same numbers (up to float rounding of the box sums)."""

    def box(x: np.ndarray, r: int) -> np.ndarray:
        k = 2 * r + 1
        c = np.cumsum(np.pad(x, r, mode="edge"), axis=0)
        c = np.concatenate([np.zeros((1, c.shape[1])), c], axis=0)
        c = np.cumsum(c[k:] - c[:-k], axis=1)
        c = np.concatenate([np.zeros((c.shape[0], 1)), c], axis=1)
        out: np.ndarray = (c[:, k:] - c[:, :-k]) / float(k * k)
        return out

    def step(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        s = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        out: np.ndarray = s * s * (3.0 - 2.0 * s)
        return out

    h, w = y.shape
    f = 4 if min(h, w) >= 128 else 2
    hb, wb = h // f, w // f
    yf = y[: hb * f, : wb * f].astype(np.float64)
    mean = yf.reshape(hb, f, wb, f).mean(axis=(1, 3))
    mean_sq = (yf * yf).reshape(hb, f, wb, f).mean(axis=(1, 3))
    r = max(1, round(h / 360))
    mu = box(mean, r)
    var = np.maximum(box(mean_sq, r) - mu * mu, 0.0)
    texture = ((var + 1.0) / 36.0) ** 0.35
    lum = 0.4 + 0.6 * step(mu, 16.0, 56.0) * (1.0 - step(mu, 200.0, 240.0))
    m = np.clip(box(texture * lum, r), 0.25, 2.5).astype(np.float32)
    full = np.repeat(np.repeat(m, f, axis=0), f, axis=1)
    out: np.ndarray = np.pad(full, ((0, h - hb * f), (0, w - wb * f)), mode="edge")
    return out


@pytest.mark.parametrize("size", [(W, H), (101, 57), (323, 181), (250, 130), (640, 360)])
def test_mask_matches_its_reference_and_marking_with_it(size: tuple[int, int]) -> None:
    """The bin sums on bytes, the box means by shifted sums and the expansion (or, in
    ``mark_luma``, the masking bin by bin) compute what the reference does."""
    w, h = size
    rng = np.random.default_rng(w)
    ramp = np.linspace(-120.0, 120.0, w)[None, :]
    for y in (
        rng.integers(0, 256, (h, w)).astype(np.uint8),
        np.clip(rng.normal(128, 30, (h, w)) + ramp, 0, 255).astype(np.uint8),
    ):
        mask = wm.perceptual_mask(y)
        assert mask.dtype == np.float32 and mask.shape == (h, w)
        np.testing.assert_allclose(mask, _reference_mask(y), rtol=1e-6, atol=1e-6)
        emb = wm.Embedder(wm.derive_key(SECRET, "exp-1"), w, h, PARAMS)
        for t in (0.0, 0.37, 1.1):
            assert np.array_equal(emb.mark_luma(y, t), emb.mark_luma(y, t, mask))


def test_upsampler_adjoint_power_and_smoothness() -> None:
    up = wm.Upsampler(W, H, PARAMS.grid_w, PARAMS.grid_h)
    rng = np.random.default_rng(3)
    p = rng.choice([-1.0, 1.0], size=(PARAMS.grid_h, PARAMS.grid_w))
    x = rng.normal(size=(H, W))
    full = up.full(p)
    assert full.shape == (H, W)
    # <U P, X> == <P, U* X>
    assert float((full * x).sum()) == pytest.approx(float((p * up.project(x)).sum()), rel=1e-4)
    powers = [
        float((up.full(rng.choice([-1.0, 1.0], size=p.shape)) ** 2).mean()) for _ in range(50)
    ]
    assert np.mean(powers) == pytest.approx(1.0, abs=0.05)
    # Smooth: neighbouring pixels differ by a small fraction of the amplitude.
    assert float(np.abs(np.diff(full, axis=1)).max()) < 0.6
    assert float(np.abs(np.diff(full, axis=0)).max()) < 0.6
    with pytest.raises(InvalidInput):
        wm.Upsampler(10, 10, 24, 14)


# -- embedding and detection ----------------------------------------------------------------


def marked_clip(
    key: bytes, n: int = 45, strength: float = 1.0, seed: int = 5
) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    params = wm.MarkParams(**{**PARAMS.to_dict(), "strength": strength})
    emb = wm.Embedder(key, W, H, params)
    originals = [textured_frame(seed + i % 3) for i in range(n)]
    times = [i / FPS for i in range(n)]
    marked = [emb.mark_luma(y, t) for y, t in zip(originals, times, strict=True)]
    return originals, marked, times


def accumulate(
    leaked: list[np.ndarray],
    originals: list[np.ndarray],
    times: list[float],
    weight: np.ndarray | None = None,
) -> wm.Accumulator:
    acc = wm.Accumulator(W, H, PARAMS)
    for y_leak, y0, t in zip(leaked, originals, times, strict=True):
        residual = y_leak.astype(np.float32) - y0.astype(np.float32)
        acc.add(residual, t, wm.perceptual_mask(y0), weight)
    return acc


def test_mark_luma_is_small_deterministic_and_shaped_by_the_mask() -> None:
    key = wm.derive_key(SECRET, "exp-1")
    y = textured_frame(1)
    emb = wm.Embedder(key, W, H, PARAMS)
    out = emb.mark_luma(y, 0.3)
    assert out.dtype == np.uint8 and out.shape == y.shape
    assert np.array_equal(out, wm.Embedder(key, W, H, PARAMS).mark_luma(y, 0.3))
    diff = out.astype(np.float64) - y
    assert 0.3 < float(np.sqrt((diff**2).mean())) < 2.5
    assert float(np.abs(diff).max()) <= 10
    mask = wm.perceptual_mask(y)
    flat, busy = mask < 0.4, mask > 1.5
    assert np.abs(diff[flat]).mean() < np.abs(diff[busy]).mean() / 2
    with pytest.raises(InvalidInput):
        emb.mark_luma(y[:-1], 0.3)


def test_mark_changes_smoothly_frame_to_frame() -> None:
    emb = wm.Embedder(wm.derive_key(SECRET, "exp-1"), W, H, PARAMS)
    steps = [float(np.abs(emb.mark((i + 1) / 30) - emb.mark(i / 30)).max()) for i in range(-30, 60)]
    # A unit-RMS mark, 30 fps, 0.5 s crossfade: at most ~pi/30 * peak per frame.
    assert max(steps) < 0.5


def test_pure_noise_scores_are_standard_normal_over_many_keys() -> None:
    rng = np.random.default_rng(11)
    acc = wm.Accumulator(W, H, PARAMS)
    mask = wm.perceptual_mask(textured_frame(1))
    for i in range(60):
        acc.add(rng.normal(0.0, 3.0, (H, W)).astype(np.float32), i / FPS, mask)
    assert acc.frames == 60
    assert acc.periods == set(range(0, 9))
    scores = acc.scores(wm.null_keys(b"noise", 3000))
    assert abs(float(scores.mean())) < 0.08
    assert float(scores.std()) == pytest.approx(1.0, abs=0.06)
    assert float(np.abs(scores).max()) < 5.0
    # A second, independent residual: the normalisation holds for it too.
    acc2 = wm.Accumulator(W, H, PARAMS)
    for i in range(30):
        acc2.add(rng.standard_t(3, (H, W)).astype(np.float32) * 5, 7.0 + i / FPS, mask)
    scores2 = acc2.scores(wm.null_keys(b"noise2", 2000))
    assert float(scores2.std()) == pytest.approx(1.0, abs=0.07)


def test_pure_noise_never_names_anyone() -> None:
    rng = np.random.default_rng(12)
    candidates = keys_for(100)
    nulls = wm.null_keys(b"null", 1000)
    mask = wm.perceptual_mask(textured_frame(1))
    for trial in range(5):
        acc = wm.Accumulator(W, H, PARAMS)
        for i in range(30):
            acc.add(rng.normal(0.0, 2.0, (H, W)).astype(np.float32), trial + i / FPS, mask)
        sc = acc.scores(candidates + nulls)
        named = stats.attribute(
            {f"c{i}": float(s) for i, s in enumerate(sc[:100])},
            sc[100:].tolist(),
            model_sf=wm.score_tail_bound,
        )
        assert not [a for a in named if a.attributed]


def test_embedded_key_scores_huge_and_others_stay_null() -> None:
    key = wm.derive_key(SECRET, "leaker")
    originals, marked, times = marked_clip(key)
    acc = accumulate(marked, originals, times)
    assert acc.score(key) > 15.0  # threshold for 1e-6 over 100 candidates: 5.6
    others = acc.scores(keys_for(300))
    assert abs(float(others.mean())) < 0.25
    assert float(others.std()) == pytest.approx(1.0, abs=0.15)
    assert float(others.max()) < 5.0


def test_scores_vectorised_equal_single() -> None:
    key = wm.derive_key(SECRET, "leaker")
    originals, marked, times = marked_clip(key, n=20)
    acc = accumulate(marked, originals, times)
    keys = [key, *keys_for(5)]
    batch = acc.scores(keys)
    assert batch == pytest.approx([acc.score(k) for k in keys], rel=1e-9, abs=1e-9)


def test_collusion_average_of_two_copies_names_both() -> None:
    k1, k2 = wm.derive_key(SECRET, "alice"), wm.derive_key(SECRET, "bob")
    originals, m1, times = marked_clip(k1)
    _, m2, _ = marked_clip(k2)
    average = [
        np.rint((a.astype(np.float32) + b) / 2).astype(np.uint8)
        for a, b in zip(m1, m2, strict=True)
    ]
    acc = accumulate(average, originals, times)
    others = keys_for(100)
    sc = acc.scores([k1, k2, *others])
    verdict = stats.attribute(
        {"alice": float(sc[0]), "bob": float(sc[1])}
        | {f"other{i}": float(s) for i, s in enumerate(sc[2:])},
        acc.scores(wm.null_keys(b"null", 500)).tolist(),
        model_sf=wm.score_tail_bound,
    )
    assert sorted(a.candidate for a in verdict if a.attributed) == ["alice", "bob"]


def test_robust_weights_discard_an_overlay() -> None:
    key = wm.derive_key(SECRET, "leaker")
    originals, marked, times = marked_clip(key, strength=0.6)
    # A news banner replaces the bottom third with flat grey and moving white text.
    leaked = []
    for i, y in enumerate(marked):
        y = y.copy()
        y[2 * H // 3 :] = 60
        y[2 * H // 3 + 10 : 2 * H // 3 + 20, (5 * i) % W :: 7] = 250
        leaked.append(y)
    weight = np.ones((H, W), np.float32)
    weight[2 * H // 3 :] = 0.0
    plain = accumulate(leaked, originals, times).score(key)
    robust = accumulate(leaked, originals, times, weight).score(key)
    assert robust > 12.0
    assert robust > 1.5 * plain
    with pytest.raises(InvalidInput):
        wm.Accumulator(W, H, PARAMS).add(
            np.zeros((H, W), np.float32), 0.0, np.ones((H, W), np.float32), 2.0 * weight
        )


def test_temporal_reference_removes_persistent_noise() -> None:
    key = wm.derive_key(SECRET, "leaker")
    originals, marked, times = marked_clip(key, n=60, strength=0.5)
    # What a downscale leaves: the same lost detail in every frame, here smooth enough to
    # land on the pattern grid and much larger than the mark.
    up = wm.Upsampler(W, H, PARAMS.grid_w, PARAMS.grid_h)
    lost = 4.0 * up.full(np.random.default_rng(4).normal(size=(PARAMS.grid_h, PARAMS.grid_w)))
    leaked = [np.clip(y + lost, 0, 255) for y in marked]
    with_ref = wm.Accumulator(W, H, PARAMS)
    without = wm.Accumulator(W, H, PARAMS, temporal_reference=False)
    for y_leak, y0, t in zip(leaked, originals, times, strict=True):
        res = y_leak.astype(np.float32) - y0
        m = wm.perceptual_mask(y0)
        with_ref.add(res, t, m)
        without.add(res, t, m)
    assert with_ref.score(key) > 2 * without.score(key)
    null = with_ref.scores(wm.null_keys(b"ref", 1000))
    assert float(null.std()) == pytest.approx(1.0, abs=0.07)


def test_empty_residual_scores_zero_and_names_nobody() -> None:
    key = wm.derive_key(SECRET, "leaker")
    originals, _, times = marked_clip(key, n=15)
    acc = accumulate(originals, originals, times)
    sc = acc.scores([key, *wm.null_keys(b"n", 10)])
    assert np.all(sc == 0.0)
    empty = wm.Accumulator(W, H, PARAMS)
    assert empty.frames == 0 and empty.periods == set()
    assert empty.score(key) == 0.0
    verdict = stats.attribute({"k": 0.0}, sc[1:].tolist(), model_sf=wm.score_tail_bound)
    assert not verdict[0].attributed


def test_accumulator_refuses_mismatched_planes() -> None:
    acc = wm.Accumulator(W, H, PARAMS)
    good = np.zeros((H, W), np.float32)
    with pytest.raises(InvalidInput):
        acc.add(good[:, :-1], 0.0, good)
    with pytest.raises(InvalidInput):
        acc.add(good, 0.0, good[:-1])
    bad = good.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInput):
        acc.add(bad, 0.0, good + 1)


def test_tail_bound_is_above_gaussian_and_a_probability() -> None:
    for z in (-3.0, 0.0, 2.0, 6.0, 30.0):
        assert stats.gaussian_sf(z) <= wm.score_tail_bound(z) <= 1.0
    assert wm.score_tail_bound(6.0) == pytest.approx(3.178 * stats.gaussian_sf(6.0), rel=1e-3)


def test_scoring_a_thousand_keys_is_cheap() -> None:
    params = wm.MarkParams()  # the default grid, as a trace would use it
    acc = wm.Accumulator(320, 180, params)
    rng = np.random.default_rng(0)
    mask = np.ones((180, 320), np.float32)
    noise = rng.normal(size=(180, 320)).astype(np.float32)
    for i in range(0, 300, 3):  # 10 s of source time, 21 periods
        acc.add(np.roll(noise, i, axis=1), i / 30, mask)
    keys = keys_for(100) + wm.null_keys(b"speed", 1000)
    acc.scores(keys[:10])
    # CPU time of this process (all its threads): what scoring costs, not how busy the
    # machine is (the suite runs on two workers, beside whatever else the machine runs).
    t0 = time.process_time()
    acc.scores(keys)
    assert time.process_time() - t0 < 1.0
