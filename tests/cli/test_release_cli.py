"""A release through the CLI, and a newsroom checking it with `custodes provenance`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.test_app import CLI, run


def test_release_and_provenance_through_the_cli(tmp_path: Path, clips: dict[str, Path]) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "user", "add", "rec", "--role", "records")
    run(home, "case", "add", "C-9", "--status", "adjudicated", user="rec")
    ev = run(home, "ingest", str(clips["a"]), "--case", "C-9", user="rec")["evidence_id"]
    req = run(
        home,
        "request",
        "add",
        "--case",
        "C-9",
        "--requester",
        "KUSA",
        "--kind",
        "press",
        "--evidence",
        ev,
        user="rec",
    )["request_id"]
    assert run(home, "request", "decide", req, "--accept", user="rec")["recorded"]
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    released = run(home, "request", "release", req, "--out", str(pkg), user="rec")
    [copy] = released["files"]
    # The newsroom has no vault: it checks the copy against the department's published root.
    root = tmp_path / "root.pem"
    printed = run(home, "provenance", "--root", user=None)
    root.write_text(printed["root_pem"])
    # The package ships no root: the newsroom gets it out of band, never from the package.
    assert not list(pkg.glob("*.pem"))
    assert printed["root_pem"].encode() not in (pkg / "manifest.json").read_bytes()
    nowhere = tmp_path / "newsroom"
    report = run(nowhere, "provenance", copy, "--anchors", str(root), user=None)
    assert report["state"] == "Trusted"
    assert report["lineage"]["release_request"] == req
    assert report["lineage"]["source"]["evidence_id"] == ev
    assert not nowhere.exists()  # reading opens no vault
    # Unchecked (no root given) and changed copies fail with one line and exit 7.
    untrusted = run(nowhere, "provenance", copy, user=None, ok=False)
    assert untrusted.returncode == 7
    assert "signed, but the signer was not checked against a trust anchor" in untrusted.stderr
    assert json.loads(untrusted.stdout)["checked_against"] is None
    assert len(untrusted.stderr.strip().splitlines()) == 1
    data = bytearray(Path(copy).read_bytes())
    data[data.index(b"mdat") + 100] ^= 0x01
    changed = tmp_path / "changed.mp4"
    changed.write_bytes(bytes(data))
    bad = run(nowhere, "provenance", str(changed), "--anchors", str(root), user=None, ok=False)
    assert bad.returncode == 7 and "do not validate" in bad.stderr
    assert json.loads(bad.stdout)["state"] == "Invalid"
    # A file with no manifest, and no file at all.
    none = run(nowhere, "provenance", str(clips["b"]), user=None, ok=False)
    assert none.returncode == 4 and "no Content Credentials" in none.stderr
    proc = subprocess.run([*CLI, "provenance"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "--root" in proc.stderr


def test_provenance_names_a_wrong_anchors_file(tmp_path: Path, clips: dict[str, Path]) -> None:
    """--anchors that is not a certificate is named as the problem (not the copy), a
    private key is refused outright, and --root with a FILE is a contradiction."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a certificate\n")
    key = tmp_path / "key.pem"
    key.write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
    )
    home = tmp_path / "nowhere"
    for anchors, needle in ((notes, "holds no PEM certificate"), (key, "holds a private key")):
        proc = run(
            home, "provenance", str(clips["a"]), "--anchors", str(anchors), user=None, ok=False
        )
        assert proc.returncode == 3 and needle in proc.stderr and str(anchors) in proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stdout == ""
    both = run(home, "provenance", str(clips["a"]), "--root", user=None, ok=False)
    assert both.returncode == 3 and "not both" in both.stderr
    assert not home.exists()
