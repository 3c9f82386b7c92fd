"""custodes.media.audioprint: audio landmarks find a clip's sound in an archive at the
right offset through re-encoding and added noise, and find nothing for sound the archive
never held. Three 20 s generated sources (hum, noise and radio chirps, AAC at 48 kHz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from custodes.core.errors import InvalidInput
from custodes.media import audioprint as ap
from custodes.media.render import EncodeSettings, render
from custodes.media.synth import write_bodycam_clip


class Sounds:
    def __init__(self, root: Path) -> None:
        self.root = root
        kw = {"seconds": 20.0, "width": 160, "height": 90, "fps": 15}
        self.paths = {
            f"S{i}": write_bodycam_clip(root / f"s{i}.mp4", seed=300 + i, **kw)  # type: ignore[arg-type]
            for i in range(3)
        }
        self.landmarks = {k: ap.audio_landmarks(p) for k, p in self.paths.items()}
        self.index = ap.AudioIndex((k, lm) for k, lm in self.landmarks.items() if lm is not None)
        self.leak = root / "leak.mp4"
        render(
            self.paths["S1"], self.leak, start_s=6.0, end_s=16.0, height=90,
            settings=EncodeSettings(crf=30),
        )  # fmt: skip


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Sounds:
    return Sounds(tmp_path_factory.mktemp("audioprint"))


def test_a_reencoded_clip_is_found_at_its_offset(sounds: Sounds) -> None:
    lm = sounds.landmarks["S1"]
    assert lm is not None and 40 < len(lm) / lm.duration_s < 200  # landmarks a second
    found = sounds.index.search(ap.audio_landmarks(sounds.leak))  # type: ignore[arg-type]
    assert found and found[0].source_id == "S1"
    assert found[0].offset_s == pytest.approx(6.0, abs=0.1)
    assert found[0].votes > 10 * found[0].expected and found[0].log10_p < ap.MAX_LOG10_P
    assert all(m.source_id == "S1" for m in found)


def test_noise_on_top_still_finds_it_and_unheld_sound_finds_nothing(sounds: Sounds) -> None:
    samples = ap.decode_mono(sounds.leak)
    assert samples is not None
    noise = np.random.default_rng(5).standard_normal(len(samples)).astype(np.float32)
    noise *= float(np.std(samples) / np.std(noise)) / 10.0  # 20 dB below the sound
    found = sounds.index.search(ap.landmarks_from_samples(samples + noise))
    assert found and found[0].source_id == "S1"
    assert found[0].offset_s == pytest.approx(6.0, abs=0.1)
    other = write_bodycam_clip(
        sounds.root / "other.mp4", seconds=10, width=160, height=90, fps=15, seed=999
    )
    assert sounds.index.search(ap.audio_landmarks(other)) == []  # type: ignore[arg-type]
    assert sounds.index.search(ap.landmarks_from_samples(noise)) == []


def test_silence_a_file_without_sound_and_bad_input(sounds: Sounds, tmp_path: Path) -> None:
    assert len(ap.landmarks_from_samples(np.zeros(ap.RATE * 5, np.float32))) == 0
    assert sounds.index.search(ap.landmarks_from_samples(np.zeros(100, np.float32))) == []
    mute = write_bodycam_clip(tmp_path / "mute.mp4", seconds=2, width=160, height=90, audio=False)
    assert ap.audio_landmarks(mute) is None
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InvalidInput, match=r"cannot read junk\.mp4"):
        ap.audio_landmarks(junk)


def test_landmarks_round_trip_and_foreign_bytes(sounds: Sounds) -> None:
    lm = sounds.landmarks["S0"]
    assert lm is not None
    back = ap.Landmarks.from_bytes(lm.to_bytes())
    assert np.array_equal(back.hashes, lm.hashes) and np.array_equal(back.frames, lm.frames)
    assert back.duration_s == lm.duration_s
    with pytest.raises(InvalidInput, match="not stored audio landmarks"):
        ap.Landmarks.from_bytes(b"garbage")
