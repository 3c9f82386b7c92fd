"""The in-process CLI runner of the tests (tests/factories/cli.py) says what a real
process says, and leaves the test's process as it found it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.factories.cli import invoke, ok

SPAWNED = [sys.executable, "-m", "custodes"]


def _spawned(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*SPAWNED, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )
    # Click names a ``python -m`` program so; the installed command is ``custodes``.
    return subprocess.CompletedProcess(
        proc.args,
        proc.returncode,
        proc.stdout.replace("python -m custodes", "custodes"),
        proc.stderr.replace("python -m custodes", "custodes"),
    )


def test_in_process_and_a_real_process_say_the_same(tmp_path: Path) -> None:
    home = tmp_path / "v"
    ok("--home", str(home), "--json", "init")
    ok("--home", str(home), "--json", "--as", "admin", "case", "add", "2026-CR-000123-LONG")
    for args in (
        ["--home", str(home), "--as", "admin", "case", "list"],  # a table, 60 columns wide
        ["--home", str(home), "--as", "admin", "case", "add"],  # a usage error, exit 2
        ["--home", str(home), "--as", "nobody", "--json", "case", "list"],  # refused, exit 5
    ):
        here = invoke(*args, env={"COLUMNS": "60"})
        there = _spawned(*args, env={"COLUMNS": "60"})
        assert (here.returncode, here.stdout, here.stderr) == (
            there.returncode,
            there.stdout,
            there.stderr,
        ), args


def test_the_runner_restores_the_process(tmp_path: Path) -> None:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    streams = (sys.stdin, sys.stdout, sys.stderr)
    here, argv, environ = os.getcwd(), list(sys.argv), dict(os.environ)
    proc = invoke(
        "--home",
        str(tmp_path / "v"),
        "--json",
        "init",
        cwd=tmp_path,
        env={"CUSTODES_USER": "clerk", "COLUMNS": "33"},
    )
    assert proc.returncode == 0, proc.stderr
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    assert (sys.stdin, sys.stdout, sys.stderr) == streams
    assert (os.getcwd(), sys.argv, dict(os.environ)) == (here, argv, environ)
    # The password is read from stdin as bytes, as from a pipe.
    added = invoke(
        *("--home", str(tmp_path / "v"), "--as", "admin", "--json", "user", "add", "u"),
        *("--role", "officer", "--password-stdin"),
        input=b"\xff\xfe not UTF-8\n",
    )
    assert (added.returncode, added.stdout) == (3, "")
    assert added.stderr == "custodes: error: the password must be valid UTF-8\n"
