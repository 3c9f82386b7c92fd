"""A new user's rough edges (issue 22), each through the CLI as a user runs it."""

from __future__ import annotations

import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.factories.cli import CLI, invoke


def cli(
    home: Path, *args: str, user: str | None = "admin", columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = ["--home", str(home), *(["--as", user] if user else []), *args]
    return invoke(*cmd, env={"COLUMNS": str(columns)} if columns is not None else None)


def ok(home: Path, *args: str, **kwargs: Any) -> Any:
    """Run with ``--json`` after the command (where users write it) and parse its output."""
    proc = cli(home, *args, "--json", **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def last_event(home: Path) -> dict[str, Any]:
    return dict(ok(home, "audit", "--limit", "1")[-1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> dict[str, Any]:
    """A vault with a records user, an officer, a case with a long number, a recording,
    an export and two requests (one decided)."""
    root = tmp_path_factory.mktemp("rough")
    home = root / "v"
    assert ok(home, "init", user=None)["home"] == str(home.resolve())
    ok(home, "user", "add", "rec", "--role", "records")
    ok(home, "user", "add", "ofc.diaz", "--role", "officer")
    case = "2026-CR-000123-HOMICIDE"  # longer than its column would get at 80 columns
    ok(home, "case", "add", case, "--status", "pending-prosecution", "--title", "A stop")
    ev = ok(home, "ingest", str(clips["a"]), "--case", case, user="rec")["evidence_id"]
    ex = ok(
        home,
        *["export", ev, "--recipient", "City Attorney Lowe", "--purpose", "review"],
        *["--out", str(root / "copy.mp4")],
        user="rec",
    )["export_id"]
    held = ok(
        home,
        *["request", "add", "--case", case, "--requester", "Denver Post", "--kind", "press"],
        "--misconduct-complaint",
        user="rec",
    )["request_id"]
    ok(home, "request", "decide", held, "--accept", user="rec")
    return {"root": root, "home": home, "case": case, "ev": ev, "ex": ex, "held": held}


# ------------------------------------------------------------------------- --version


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    """A real process: the version comes from the installed package's metadata."""
    proc = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"custodes {metadata.version('custodes')}\n"
    assert proc.stderr == ""


# ------------------------------------------------------------------------- --json anywhere


@pytest.mark.parametrize(
    "args",
    [
        ["--as", "admin", "user", "list"],
        ["case", "show", "{case}"],
        ["exports"],
        ["audit", "--limit", "3"],
        ["request", "show", "{held}"],
        ["request", "decide", "{held}"],
    ],
    ids=lambda a: "-".join(x for x in a if x[0] not in "{-" and x != "admin"),
)
def test_json_after_the_command_is_the_same_as_before(
    world: dict[str, Any], args: list[str]
) -> None:
    home = world["home"]
    args = [a.format(**world) for a in args]
    before = cli(home, "--json", *args, user="rec")
    after = cli(home, *args, "--json", user="rec")
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    if args[0] == "audit":  # reading the log adds nothing to it, so both are the same
        assert json.loads(before.stdout) == json.loads(after.stdout)
    else:
        assert before.stdout == after.stdout
    json.loads(after.stdout)


def test_every_command_takes_json_after_it_and_says_so() -> None:
    """Every command (those added later too) lists ``--json`` in its help."""
    import typer

    from custodes.cli.app import app

    root = typer.main.get_command(app)
    leaves: list[tuple[str, Any]] = []

    def walk(path: str, command: Any) -> None:
        subs = getattr(command, "commands", None)
        if subs is None or getattr(command, "invoke_without_command", False):
            leaves.append((path, command))
        for name, sub in (subs or {}).items():
            walk(f"{path} {name}", sub)

    for name, sub in root.commands.items():  # type: ignore[attr-defined]
        walk(name, sub)
    assert len(leaves) > 30
    missing = [p for p, c in leaves if not any("--json" in x.opts for x in c.params)]
    assert missing == []
    shown = invoke("request", "decide", "--help")
    assert "--json" in shown.stdout


# ------------------------------------------------------------------------- output folders


def test_trace_makes_its_report_folder(world: dict[str, Any], clips: dict[str, Path]) -> None:
    home, root = world["home"], world["root"]
    missing = root / "deep" / "reports"
    refused = cli(home, "trace", str(clips["b"]), "--report-dir", str(missing), user="rec")
    assert refused.returncode == 3 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and f"no such folder: {root / 'deep'}" in refused.stderr
    assert not (root / "deep").exists()
    reports = root / "reports"
    out = ok(home, "trace", str(clips["b"]), "--report-dir", f"{reports}/", user="rec")
    assert out["verdict"] == "source-not-found"
    assert sorted(p.name for p in reports.iterdir()) == sorted(
        Path(out["report"][k]).name for k in ("html", "pdf")
    )


def test_request_letter_makes_its_folder(world: dict[str, Any]) -> None:
    home, root = world["home"], world["root"]
    letters = root / "letters"
    out = ok(home, "request", "letter", world["held"], "--out", str(letters), user="rec")
    assert Path(out["html"]).parent == letters.resolve()
    assert sorted(p.suffix for p in letters.iterdir()) == [".html", ".pdf"]
    (root / "a-file").write_text("x")
    refused = cli(home, "request", "letter", world["held"], "--out", str(root / "a-file"))
    assert refused.returncode == 3 and "is a file, not a folder" in refused.stderr


# ------------------------------------------------------------------------- tables


@pytest.mark.parametrize("columns", [80, 40])
def test_tables_never_cut_an_identifier(world: dict[str, Any], columns: int) -> None:
    home = world["home"]
    shown = {
        "evidence": cli(home, "evidence", "list", user="rec", columns=columns),
        "exports": cli(home, "exports", user="rec", columns=columns),
        "requests": cli(home, "request", "list", user="rec", columns=columns),
        "cases": cli(home, "case", "list", user="rec", columns=columns),
        "audit": cli(home, "audit", user="rec", columns=columns),
    }
    for name, proc in shown.items():
        assert proc.returncode == 0, proc.stderr
        # Nothing is cut short, but the listing's hash prefix (one row: "a1b2…").
        assert proc.stdout.count("…") == (name == "evidence"), (name, proc.stdout)
    assert world["ev"] in shown["evidence"].stdout
    assert world["case"] in shown["evidence"].stdout
    assert world["ex"] in shown["exports"].stdout and world["ev"] in shown["exports"].stdout
    assert world["held"] in shown["requests"].stdout
    assert world["case"] in shown["cases"].stdout
    assert world["case"] in shown["audit"].stdout and world["ev"] in shown["audit"].stdout


# ------------------------------------------------------------------------- request decide


def test_request_decide_prints_facts_as_text(world: dict[str, Any]) -> None:
    proc = cli(world["home"], "request", "decide", world["held"], user="rec", columns=200)
    assert proc.returncode == 0, proc.stderr
    assert "Proposed: release" in proc.stdout
    assert "reads misconduct complaint: yes" in proc.stdout
    assert "{" not in proc.stdout and "'" not in proc.stdout and "True" not in proc.stdout


# ------------------------------------------------------------------------- evidence show


def test_evidence_show_is_a_table_and_the_blob_path_is_for_admins(
    world: dict[str, Any],
) -> None:
    home, ev = world["home"], world["ev"]
    as_admin = ok(home, "evidence", "show", ev)
    location = as_admin["path"]
    assert location and Path(location).is_file()
    as_records = ok(home, "evidence", "show", ev, user="rec")
    assert as_records["path"] is None
    assert {k: v for k, v in as_records.items() if k != "path"} == {
        k: v for k, v in as_admin.items() if k != "path"
    }
    human = cli(home, "evidence", "show", ev, user="rec", columns=200)
    assert human.returncode == 0, human.stderr
    assert location not in human.stdout and "blobs" not in human.stdout
    assert not human.stdout.lstrip().startswith("{") and '"sha256"' not in human.stdout
    assert ev in human.stdout and as_records["sha256"] in human.stdout
    assert "case" in human.stdout and world["case"] in human.stdout
    admin_human = cli(home, "evidence", "show", ev, columns=400)
    assert location in admin_human.stdout
    # Each viewing is on record, whoever it shows the location to.
    assert last_event(home)["action"] == "view"


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["case", "set", "{case}", "--status", "reopened"], "unknown case status 'reopened'"),
        (["redact", "{ev}", "--faces", "--style", "smudge"], "smudge"),
    ],
    ids=["case-status", "redact-style"],
)
def test_a_mistyped_value_is_bad_input_not_a_refusal_of_access(
    world: dict[str, Any], args: list[str], needle: str
) -> None:
    home = world["home"]
    before = last_event(home)["seq"]
    proc = cli(home, *[a.format(**world) for a in args], user="rec")
    assert proc.returncode == 3 and proc.stdout == "" and needle in proc.stderr
    event = last_event(home)
    if event["seq"] != before:  # when it is recorded, it is recorded as bad input
        assert event["action"] == "input-refused" and needle in event["details"]["error"]
        assert event["actor"] == "rec"


def test_request_kind_typo_is_recorded_as_input_refused(world: dict[str, Any]) -> None:
    home = world["home"]
    proc = cli(
        home,
        *["request", "add", "--case", world["case"], "--requester", "X", "--kind", "alien"],
        user="rec",
    )
    assert proc.returncode == 3
    event = last_event(home)
    assert (event["action"], event["case"]) == ("input-refused", world["case"])
    assert event["actor"] == "rec" and "unknown requester kind" in event["details"]["error"]
    assert event["details"]["attempted"] == "case:request:add"
    # A refusal of access stays one.
    denied = cli(home, "evidence", "show", world["ev"], user="ofc.diaz")
    assert denied.returncode == 5
    assert last_event(home)["action"] == "access-refused"
