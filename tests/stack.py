"""Run a command (the test suite) on the production stack: ``make test-production``.

    python -m tests.stack python -m pytest -q tests/services

Checks that PostgreSQL answers at CUSTODES_TEST_DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test, trust auth), starts moto's S3 server
on a free loopback port, and runs the command with the vault fixtures switched to
PostgreSQL, that S3 server and Procrastinate's job queue (tests/conftest.py reads
CUSTODES_TEST_DATABASE, CUSTODES_TEST_BLOBS, CUSTODES_TEST_S3_ENDPOINT and
CUSTODES_TEST_JOBS). Each test makes its own schema and bucket; the tests of
``custodes worker`` start their own worker processes on their schema. moto stops when
the command ends; its exit status is the command's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import _answers, _free_port, pg_problem


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tests.stack COMMAND [ARGS...]", file=sys.stderr)
        return 2
    problem = pg_problem()
    if problem:
        print(f"tests.stack: {problem} (start PostgreSQL first)", file=sys.stderr)
        return 1
    port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if moto.poll() is not None or time.monotonic() > deadline:
                print("tests.stack: moto's S3 server did not start", file=sys.stderr)
                return 1
            time.sleep(0.1)
        env = {
            **os.environ,
            "CUSTODES_TEST_DATABASE": "postgresql",
            "CUSTODES_TEST_BLOBS": "s3",
            "CUSTODES_TEST_S3_ENDPOINT": f"http://127.0.0.1:{port}",
            "CUSTODES_TEST_JOBS": "procrastinate",
        }
        return subprocess.call(argv, env=env)
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
