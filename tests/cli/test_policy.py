"""``custodes policy`` and ``init --policy-pack``: the pack in force through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custodes import bootstrap
from custodes.config import Settings
from tests.cli.test_app import _refused_cleanly, run
from tests.factories.cli import invoke
from tests.factories.packs import builtin_text, expired_pack, put_in_force


def _cli(home: Path, *args: str, user: str = "admin", env: dict[str, str] | None = None) -> Any:
    return invoke("--home", str(home), "--json", "--as", user, *args, env=env)


def test_policy_through_the_cli(tmp_path: Path, clips: dict[str, Path]) -> None:
    home = tmp_path / "v"
    run(home, "init", "--policy-pack", "california", user=None)
    shown = run(home, "policy", "show", user="admin")
    assert (shown["name"], shown["set_by"], shown["source"]) == (
        "california",
        "admin",
        "california.yaml",
    )
    assert len(shown["sha256"]) == 64 and shown["since"]
    run(home, "user", "add", "rec", "--role", "records")
    run(home, "case", "add", "C-1", "--status", "adjudicated", user="rec")
    run(home, "ingest", str(clips["a"]), "--case", "C-1", user="rec")
    # California's pack denies this request; a second one is left undecided.
    rq = run(
        home,
        "request",
        "add",
        "--case",
        "C-1",
        "--requester",
        "KUSA",
        "--kind",
        "press",
        user="rec",
    )
    decided = run(home, "request", "decide", rq["request_id"], "--accept", user="rec")
    assert decided["pack_sha256"] == shown["sha256"] and decided["outcome"] == "deny"
    detail = run(home, "request", "show", rq["request_id"], user="rec")
    assert detail["decision"]["pack_sha256"] == shown["sha256"]
    assert detail["decision"]["pack"] == "california" and detail["needs_review"] is False
    assert detail["decisions"][0]["pack_sha256"] == shown["sha256"]
    open_rq = run(
        home,
        "request",
        "add",
        "--case",
        "C-1",
        "--requester",
        "Post",
        "--kind",
        "press",
        user="rec",
    )["request_id"]

    # Records may not change the pack: exit 5, one line, on record.
    refused = _cli(home, "policy", "set", "colorado", "--reason", "x", user="rec")
    assert refused.returncode == 5 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "permission denied" in refused.stderr
    last = run(home, "audit", user="admin")[-1]
    assert (last["action"], last["actor"]) == ("access-refused", "rec")
    assert last["details"]["attempted"] == "vault:policy:set"

    # A bad pack file: exit 3, one line naming the file and line, nothing changed.
    bad = tmp_path / "bad.yaml"
    bad.write_text(builtin_text("colorado").replace("\ndefault:", "\ndefualt:"))
    failed = _cli(home, "policy", "set", str(bad), "--reason", "new law")
    assert failed.returncode == 3 and failed.stdout == ""
    assert failed.stderr.startswith("custodes: error: bad.yaml:") and failed.stderr.count("\n") == 1
    assert run(home, "policy", "show", user="rec") == shown
    usage = _cli(home, "policy", "set", "colorado")
    assert usage.returncode == 2 and "--reason" in usage.stderr

    # An admin changes it: the open request, which Colorado's pack would release, is
    # re-reviewed and marked to decide again; the denial is answered for good.
    changed = run(home, "policy", "set", "colorado", "--reason", "we are in Colorado")
    assert changed["pack"]["name"] == "colorado" and changed["pack"]["set_by"] == "admin"
    assert changed["pack"]["previous_sha256"] == shown["sha256"]
    assert changed["rereviewed"] == 1 and changed["needs_review"] == [open_rq]
    listed = run(home, "request", "list", "--open", user="rec")
    assert [(r["request_id"], r["needs_review"]) for r in listed] == [(open_rq, True)]
    human = invoke("--home", str(home), "--as", "rec", "request", "list")
    assert "needed" in human.stdout  # the review column
    again = run(home, "request", "decide", open_rq, "--accept", user="rec")
    assert again["outcome"] in ("release", "partial")
    assert again["pack_sha256"] == changed["pack"]["sha256"]
    assert run(home, "request", "show", open_rq, user="rec")["needs_review"] is False
    # Back to California: nothing is released under the decision made under Colorado's.
    back = run(home, "policy", "set", "california", "--reason", "counsel says so")
    assert back["needs_review"] == [open_rq]
    out = tmp_path / "package"
    blocked = _cli(home, "request", "release", open_rq, "--out", str(out), user="rec")
    assert blocked.returncode == 6 and "no longer in force" in blocked.stderr
    assert blocked.stderr.count("\n") == 1 and not out.exists()
    assert run(home, "audit", user="admin")[-1]["action"] == "release-refused"
    history = run(home, "policy", "history", user="rec")
    assert [p["name"] for p in history] == ["california", "colorado", "california"]
    assert run(home, "verify", user="admin")["ok"]


def test_the_retired_variable_is_named_and_ignored(tmp_path: Path) -> None:
    home = tmp_path / "v"
    run(home, "init", user=None)
    proc = _cli(home, "policy", "show", env={"CUSTODES_POLICY_PACK": "california"})
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["name"] == "colorado"  # the vault's setting, not the variable
    assert proc.stderr.count("\n") == 1
    assert "CUSTODES_POLICY_PACK is no longer read" in proc.stderr
    assert "policy set" in proc.stderr
    quiet = _cli(home, "policy", "show", env={"CUSTODES_POLICY_PACK": ""})
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_init_with_a_bad_pack_makes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "v"
    proc = invoke("--home", str(home), "init", "--policy-pack", "atlantis")
    assert proc.returncode == 4 and "no built-in policy pack 'atlantis'" in proc.stderr
    assert not home.exists()


def test_an_expired_pack_in_force_refuses_new_requests_and_decisions(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A pack that was current when it was set and has expired since: request add and
    decide are refused with one line, on record, and leave nothing else."""
    home = tmp_path / "v"
    run(home, "init", user=None)
    run(home, "user", "add", "rec", "--role", "records")
    run(home, "case", "add", "C-1", "--status", "pending-prosecution", user="rec")
    run(home, "ingest", str(clips["a"]), "--case", "C-1", user="rec")
    undecided = run(
        home, "request", "add", "--case", "C-1", "--requester", "X", "--kind", "press", user="rec"
    )
    vault = bootstrap.open_vault(Settings(home=home))
    try:
        put_in_force(vault, expired_pack(tmp_path), on=datetime(2019, 6, 1, tzinfo=UTC))
    finally:
        vault.engine.dispose()
    world = {"home": home, "clips": {}, "undecided": undecided["request_id"]}
    for args in (
        ["request", "decide", "{undecided}", "--accept"],
        ["request", "add", "--case", "C-1", "--requester", "X", "--kind", "press"],
    ):
        sub = tmp_path / args[1]
        sub.mkdir()
        _refused_cleanly(
            world,
            sub,
            "rec",
            args,
            {},
            3,
            "expired on 2020-01-01",
            ("input-refused", None),
            verified=False,
        )
    # The pack was put in force by a clock set back to 2019 (a pack is set only while it
    # is current), so its checkpoint is older than the ones before it: verify names that,
    # and nothing else.
    checked = json.loads(_cli(home, "verify").stdout)
    assert {p["kind"] for p in checked["problems"]} == {"checkpoint-time"}
