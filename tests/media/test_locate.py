"""custodes.media.locate: which source, which seconds, for leaks made the way they are.

Two 40 s synthetic bodycam sources; 10 s leaks cut from source A at seeded random
offsets and re-encoded with one transform each (rescale, crop, 25 fps, mirror,
brightness/gamma, speed-up); a leak of source B stands for unrelated footage when only
A is searched.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from custodes.media.fingerprint import Fingerprint, fingerprint_video
from custodes.media.leak import simulate_leak
from custodes.media.locate import MIN_SCORE, MIN_Z, SourceMatch, locate, match_profile
from custodes.media.synth import write_bodycam_clip

FRAME = 1 / 30


class Clips:
    def __init__(self, root: Path) -> None:
        self.root = root
        kw = {"seconds": 40.0, "width": 320, "height": 180, "fps": 30, "audio": False}
        self.a = write_bodycam_clip(root / "a.mp4", seed=31, **kw)  # type: ignore[arg-type]
        self.b = write_bodycam_clip(root / "b.mp4", seed=32, **kw)  # type: ignore[arg-type]
        self.fa = fingerprint_video(self.a)
        self.fb = fingerprint_video(self.b)
        self.rng = np.random.default_rng(2026)

    def leak(self, transform: str, **kwargs: float) -> tuple[Fingerprint, float]:
        """A 10 s leak of source A from a random offset: its fingerprint and the offset."""
        start = round(float(self.rng.uniform(0.5, 29.0)), 3)
        dest = self.root / f"leak_{transform}_{len(list(self.root.iterdir()))}.mp4"
        simulate_leak(self.a, dest, start_s=start, seconds=10.0, transform=transform, **kwargs)  # type: ignore[arg-type]
        return fingerprint_video(dest), start


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    return Clips(tmp_path_factory.mktemp("locate"))


def _check(matches: list[SourceMatch], start: float, *, mirrored: bool = False) -> SourceMatch:
    assert matches, "the leak was not found"
    best = matches[0]
    assert best.source_id == "A"
    assert abs(best.offset_s - start) <= FRAME
    assert best.rate == pytest.approx(1.0)
    assert best.mirrored == mirrored
    assert best.score >= MIN_SCORE
    assert best.confidence > 0.999
    assert best.leak_start_s == pytest.approx(0.0)
    assert best.leak_end_s == pytest.approx(10.0, abs=0.05)
    return best


@pytest.mark.parametrize(
    ("transform", "fps"),
    [("scale", None), ("crop", None), ("reencode", 25.0), ("mirror", None), ("tone", None)],
)
def test_locates_a_transformed_leak(clips: Clips, transform: str, fps: float | None) -> None:
    leak, start = clips.leak(transform, fps=fps) if fps else clips.leak(transform)
    matches = locate(leak, {"A": clips.fa, "B": clips.fb})
    best = _check(matches, start, mirrored=transform == "mirror")
    assert best.to_source(2.0) == pytest.approx(best.offset_s + 2.0)
    # Only the right source answers.
    assert {m.source_id for m in matches} == {"A"}


def test_unrelated_footage_is_not_found(clips: Clips) -> None:
    start = 7.25
    dest = clips.root / "unrelated.mp4"
    simulate_leak(clips.b, dest, start_s=start, seconds=10.0, transform="crop")
    leak = fingerprint_video(dest)
    assert locate(leak, {"A": clips.fa}) == []
    # With thresholds off, the best chance peak is still far below a real match.
    loose = locate(leak, {"A": clips.fa}, min_score=-1.0, min_z=-math.inf)
    assert loose and loose[0].score < MIN_SCORE
    # And among both sources, B (the right one) is found.
    found = locate(leak, {"A": clips.fa, "B": clips.fb})
    assert [m.source_id for m in found] == ["B"]
    assert abs(found[0].offset_s - start) <= FRAME


def test_speed_change(clips: Clips) -> None:
    leak, start = clips.leak("reencode", rate=1.03)
    matches = locate(leak, {"A": clips.fa}, max_speed_change=0.05)
    assert matches
    best = matches[0]
    assert best.rate == pytest.approx(1.03, abs=0.004)
    # Where the leak's middle maps is what matters for a sped-up clip.
    assert abs(best.to_source(5.0) - (start + 1.03 * 5.0)) <= FRAME


def test_stored_fingerprints_locate_alike(clips: Clips) -> None:
    leak, start = clips.leak("reencode")
    stored = {"A": Fingerprint.from_bytes(clips.fa.to_bytes())}
    _check(locate(Fingerprint.from_bytes(leak.to_bytes()), stored), start)


def _concat(first: Fingerprint, second: Fingerprint, gap: float) -> Fingerprint:
    times = np.concatenate([first.times, second.times + first.times[-1] + gap])
    feats = np.concatenate([first.feats, second.feats])
    return Fingerprint(first.fps, times, feats, first.width, first.height)


def test_a_news_edit_gives_one_match_per_piece(clips: Clips) -> None:
    one, s1 = clips.leak("crop")
    two, s2 = clips.leak("reencode")
    edit = _concat(one, two, FRAME)  # a hard cut after 10 s
    matches = sorted(locate(edit, {"A": clips.fa, "B": clips.fb}), key=lambda m: m.leak_start_s)
    assert len(matches) == 2
    first, second = matches
    assert abs(first.offset_s - s1) <= FRAME
    assert abs(second.offset_s - (s2 - 10.0)) <= FRAME
    assert first.leak_start_s == pytest.approx(0.0, abs=0.3)
    assert first.leak_end_s == pytest.approx(10.0, abs=0.5)
    assert second.leak_start_s == pytest.approx(10.0, abs=0.5)
    # The profile of the first match holds on its piece and drops on the other.
    t, local = match_profile(edit, clips.fa, first)
    assert local[t < 9].mean() > 0.5
    assert abs(local[t > 11].mean()) < 0.15


def _piece(fp: Fingerprint, lo: float, hi: float) -> Fingerprint:
    t = np.asarray(fp.times)
    keep = (t >= lo) & (t < hi)
    return Fingerprint(fp.fps, t[keep] - lo, fp.feats[keep], fp.width, fp.height)


@pytest.mark.parametrize("share", [0.3, 0.4, 0.6])
@pytest.mark.parametrize("order", ["source-first", "source-last", "source-between"])
def test_a_match_that_clears_the_thresholds_is_never_lost_by_applying_them(
    clips: Clips, share: float, order: str
) -> None:
    """Issue 21: a 12 s leak of which only a share is source A (the rest unrelated
    footage, B, not searched) scores low as a whole and high on A's stretch. Whatever
    ``locate`` finds with its thresholds at zero that clears the default thresholds, it
    finds with them (a 30 % share used to give nothing)."""
    length = 12.0
    own = _piece(clips.fa, 7.0, 7.0 + share * length)
    rest = length - share * length
    if order == "source-first":
        leak, at = _concat(own, _piece(clips.fb, 3.0, 3.0 + rest), FRAME), 0.0
    elif order == "source-last":
        leak, at = _concat(_piece(clips.fb, 3.0, 3.0 + rest), own, FRAME), rest
    else:
        half = rest / 2
        leak = _concat(_concat(_piece(clips.fb, 3.0, 3.0 + half), own, FRAME),
                       _piece(clips.fb, 20.0, 20.0 + half), FRAME)  # fmt: skip
        at = half
    unfiltered = locate(leak, {"A": clips.fa}, min_score=0.0, min_z=0.0)
    clearing = [m for m in unfiltered if m.score >= MIN_SCORE and m.z >= MIN_Z]
    assert clearing, "the stretch of A should clear the thresholds"
    found = locate(leak, {"A": clips.fa})
    for m in clearing:
        assert any(abs(f.offset_s - m.offset_s) <= 2 * FRAME for f in found), (m, found)
    assert any(abs(f.offset_s - (7.0 - at)) <= 3 * FRAME for f in found)
    # Unrelated footage alone still gives nothing.
    assert locate(_piece(clips.fb, 3.0, 3.0 + length), {"A": clips.fa}) == []


def test_too_short_or_empty_leaks() -> None:
    empty = Fingerprint(30.0, np.zeros(1), np.zeros((1, 5), np.float32))
    assert locate(empty, {}) == []


def test_sources_too_short_to_match_are_passed_over_quietly(clips: Clips) -> None:
    """A two-frame recording in the vault gives no match and no numpy warnings."""
    leak, start = clips.leak("reencode")
    fb = clips.fb
    tiny = Fingerprint(30.0, np.array([0.0, 0.01]), fb.feats[:2], fb.width, fb.height)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        matches = locate(leak, {"tiny": tiny, "A": clips.fa})
    assert [m.source_id for m in matches] == ["A"]
    _check(matches, start)
