"""Content Credentials (C2PA) of released copies: signed, read back, tampering found."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.core.errors import InvalidInput, NotFound
from custodes.media.provenance import LINEAGE_LABEL, build_manifest, read_credentials, sign_mp4
from custodes.storage.credentials import SigningCredential, load_or_create_credential

LINEAGE = {
    "source": {"evidence_id": "EV-1", "sha256": "ab" * 32, "case": "2026-0042"},
    "operations": [
        {
            "op": "redact",
            "faces": True,
            "style": "blur",
            "boxes": 12,
            "regions": 1,
            "detector": {"x": 1},
        },
        {"op": "audio", "mode": "mute", "ranges": [[0.0, 1.0]]},
        {"op": "trim", "start_s": 0.0, "end_s": 2.0},
        {"op": "scale", "from_width": 640, "from_height": 360, "width": 320, "height": 180},
        {"op": "forensic-watermark", "scheme": "s", "key_version": 1, "params": {}},
        {"op": "encode", "codec": "libx264", "crf": 23},
    ],
    "software": {"custodes": "0.1.0"},
}


@pytest.fixture(scope="module")
def cred(tmp_path_factory: pytest.TempPathFactory) -> SigningCredential:
    return load_or_create_credential(tmp_path_factory.mktemp("home"), "Test PD")


@pytest.fixture(scope="module")
def signed(
    tmp_path_factory: pytest.TempPathFactory, cred: SigningCredential, clips: dict[str, Path]
) -> Path:
    dst = tmp_path_factory.mktemp("signed") / "release.mp4"
    manifest = build_manifest(title=dst.name, lineage=LINEAGE, extra={"release_request": "RQ-1"})
    sign_mp4(clips["a"], dst, manifest, cred)
    return dst


def test_signed_copy_reads_back_trusted_with_its_lineage(
    signed: Path, cred: SigningCredential
) -> None:
    report = read_credentials(signed, cred.anchors_pem)
    assert report["state"] == "Trusted" and report["trusted"] and report["failures"] == []
    assert report["lineage"]["source"]["sha256"] == "ab" * 32
    assert report["lineage"]["release_request"] == "RQ-1"
    assert report["signer"]["issuer"] == "Test PD"
    actions = [(a["action"], a["description"]) for a in report["actions"]]
    assert actions[0][0] == "c2pa.opened"
    assert ("c2pa.filtered", "faces and 1 drawn region blurred") in actions
    assert ("c2pa.edited", "audio muted") in actions
    assert ("c2pa.transcoded", None) in actions
    assert ("c2pa.resized", None) in actions
    assert report["ingredients"][0]["instance_id"] == "sha256:" + "ab" * 32


def test_another_root_or_none_is_not_trust(
    signed: Path, tmp_path: Path, cred: SigningCredential
) -> None:
    stranger = load_or_create_credential(tmp_path, "Elsewhere")
    for anchors in (stranger.anchors_pem, None):
        report = read_credentials(signed, anchors)
        assert not report["trusted"]
        assert report["state"] in ("Valid", "Invalid")


def test_a_changed_byte_invalidates(signed: Path, tmp_path: Path, cred: SigningCredential) -> None:
    data = bytearray(signed.read_bytes())
    at = data.index(b"mdat") + 200
    data[at] ^= 0xFF
    bad = tmp_path / "changed.mp4"
    bad.write_bytes(bytes(data))
    report = read_credentials(bad, cred.anchors_pem)
    assert report["state"] == "Invalid" and not report["trusted"]
    assert any("mismatch" in str(f["code"]) for f in report["failures"])


def test_no_manifest_and_bad_files(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no Content Credentials"):
        read_credentials(clips["a"], None)
    with pytest.raises(InvalidInput, match="no such file"):
        read_credentials(tmp_path / "nope.mp4", None)
    with pytest.raises(InvalidInput, match="is a folder"):
        read_credentials(tmp_path, None)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\xff" * 100)
    with pytest.raises((NotFound, InvalidInput)):
        read_credentials(junk, None)


def test_signing_never_overwrites_and_cleans_up(
    clips: dict[str, Path], tmp_path: Path, cred: SigningCredential
) -> None:
    dst = tmp_path / "x.mp4"
    dst.write_bytes(b"keep")
    manifest = build_manifest(title="x.mp4", lineage=LINEAGE)
    with pytest.raises(FileExistsError):
        sign_mp4(clips["a"], dst, manifest, cred)
    assert dst.read_bytes() == b"keep"
    not_video = tmp_path / "text.mp4"
    not_video.write_text("not a video")
    out = tmp_path / "y.mp4"
    with pytest.raises(Exception, match="C2PA signing"):
        sign_mp4(not_video, out, manifest, cred)
    assert not out.exists()
    assert LINEAGE_LABEL == "org.custodes.lineage"


def test_resized_only_when_the_size_changed() -> None:
    def actions(op: dict) -> list[str]:
        lineage = {**LINEAGE, "operations": [op]}
        [assertion, _] = build_manifest(title="t.mp4", lineage=lineage)["assertions"]
        return [a["action"] for a in assertion["data"]["actions"]]

    same = {"op": "scale", "from_width": 320, "from_height": 180, "width": 320, "height": 180}
    assert actions(same) == ["c2pa.opened"]
    smaller = {**same, "width": 160, "height": 90}
    assert actions(smaller) == ["c2pa.opened", "c2pa.resized"]
