"""PostgreSQL audit append with concurrent writers (issue 19; goal >= 5,000 events/s
with 8 writers).

Each writer thread loops for ``--seconds``: open a unit of work, append ``--batch``
events (audit.append: lock the log head FOR UPDATE, chain, Merkle leaves), sign a
checkpoint, commit, publish it, as every use case does. Reports events/s for each
batch size given, then runs ``verify`` over the log it wrote.

    CUSTODES_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
        python bench/bench_pg_append.py --writers 8 --seconds 10 --batch 1 --batch 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.custody import Action
from custodes.services import audit, cases
from custodes.services.common import event
from custodes.services.verify import verify_vault

URL = os.environ.get(
    "CUSTODES_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def run(
    vault: bootstrap.Vault, writers: int, seconds: float, batch: int, usecase: bool = False
) -> dict[str, object]:
    counts = [0] * writers
    start = threading.Barrier(writers + 1)
    stop = threading.Event()

    def writer(n: int) -> None:
        start.wait()
        while not stop.is_set():
            if usecase:  # a whole use case: authorise, a state row, its event, a checkpoint
                cases.add_case(vault, "admin", f"B{batch}-{n}-{counts[n]}")
                counts[n] += 1
                continue
            with vault.uow() as uow:
                events = [
                    event(vault, "admin", Action.VIEW, details={"writer": n, "i": counts[n] + i})
                    for i in range(batch)
                ]
                audit.append(uow, events)
                audit.commit(uow, vault)
            counts[n] += batch

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for th in threads:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    total = sum(counts)
    return {
        "what": "add_case use case" if usecase else f"append {batch} events a commit",
        "batch": batch,
        "events": total,
        "seconds": round(elapsed, 2),
        "events_per_s": round(total / elapsed, 1),
        "commits_per_s": round(total / batch / elapsed, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--writers", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, action="append")
    p.add_argument("--usecase", action="store_true", help="also run the add_case use case")
    p.add_argument("--out", type=Path, default=Path("bench/results/pg_append.json"))
    args = p.parse_args()
    schema = "bench_" + secrets.token_hex(4)
    admin = create_engine(URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(URL).update_query_dict({"options": f"-csearch_path={schema}"})
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            vault = bootstrap.init_vault(
                Settings(
                    home=Path(tmp) / "vault",
                    database_url=url.render_as_string(hide_password=False),
                    db_pool_size=args.writers,
                )
            )
            for batch in args.batch or [1]:
                r = run(vault, args.writers, args.seconds, batch)
                print(json.dumps(r))
                results.append(r)
            if args.usecase:
                r = run(vault, args.writers, args.seconds, 1, usecase=True)
                print(json.dumps(r))
                results.append(r)
            t0 = time.perf_counter()
            report = verify_vault(vault, "admin", blobs=False)
            verified = {
                "ok": report.ok,
                "events": report.events,
                "seconds": round(time.perf_counter() - t0, 2),
            }
            print("verify:", json.dumps(verified))
            vault.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    doc = {
        "bench": "pg_append",
        "writers": args.writers,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, shared and loaded",
        "postgresql": URL.split("@")[-1],
        "goal_events_per_s": 5000,
        "runs": results,
        "verify": verified,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
