"""A release through the CLI, and a newsroom checking it with `custodes provenance`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_app import run
from tests.factories.cli import invoke


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
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = invoke("provenance", cwd=cwd)
    assert proc.returncode == 3 and "--root" in proc.stderr
    assert list(cwd.iterdir()) == []


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


def test_a_release_needs_a_redaction_a_person_accepted(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "user", "add", "rec", "--role", "records")
    run(home, "user", "add", "sgt", "--role", "supervisor")
    run(home, "user", "add", "ofc", "--role", "officer")
    run(home, "case", "add", "C-9", "--status", "adjudicated", user="rec")
    ev = run(home, "ingest", str(clips["a"]), "--case", "C-9", user="rec")["evidence_id"]
    run(home, "evidence", "flag", ev, "--flag", "plate", "--reason", "plates in view", user="rec")
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
        user="rec",
    )["request_id"]
    decided = run(home, "request", "decide", req, "--accept", user="rec")
    assert [r["kind"] for r in decided["redactions"]] == ["plates"]
    red = run(
        home,
        "redact",
        ev,
        "--region",
        "0.2:40,40,60,30:plate",
        "--out",
        str(tmp_path / "r.mp4"),
        user="rec",
    )
    pkg = tmp_path / "pkg"
    refused = run(home, "request", "release", req, "--out", str(pkg), user="rec", ok=False)
    assert refused.returncode == 6, refused.stderr
    assert "has no redaction a person accepted as covering plates" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not pkg.exists()
    assert run(home, "audit", user="rec")[-1]["action"] == "release-refused"
    rid = red["derivative_id"]
    # What the copy cannot have covered is refused, on record; bad kinds are bad input.
    wrong = run(home, "redaction", "accept", rid, "--covers", "faces", user="sgt", ok=False)
    assert wrong.returncode == 6 and "cannot cover faces" in wrong.stderr
    assert run(home, "audit", user="rec")[-1]["action"] == "access-refused"
    typo = run(home, "redaction", "accept", rid, "--covers", "plaets", user="sgt", ok=False)
    assert typo.returncode == 3 and "unknown redaction kind 'plaets'" in typo.stderr
    officer = run(home, "redaction", "accept", rid, "--covers", "plates", user="ofc", ok=False)
    assert officer.returncode == 5
    accepted = run(home, "redaction", "accept", rid, "--covers", "plates", user="sgt")
    assert accepted["covers"] == ["plates"] and accepted["accepted_by"] == "sgt"
    event = run(home, "audit", user="rec")[-1]
    assert event["action"] == "redaction-accept" and event["actor"] == "sgt"
    released = run(home, "request", "release", req, "--out", str(pkg), user="rec")
    manifest = json.loads(Path(released["manifest"]).read_text())
    [f] = manifest["files"]
    assert f["redactions"]["derivative_id"] == rid
    assert f["redactions"]["covers"] == ["plates"]
    assert [a["by"] for a in f["redactions"]["accepted"]] == ["sgt"]
    assert any("region 'plate' blurred" in d for d in f["redactions"]["described"])
