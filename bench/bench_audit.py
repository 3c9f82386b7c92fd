"""Audit-log benchmarks: append rate in batches, and `verify` time over a large log.

    .venv/bin/python bench/bench_audit.py --events 1000000 [--batch 1000] [--json]

Goals (issue 2): at least 5,000 appends/s on SQLite in batches; `custodes verify` over
1,000,000 events in under 10 s. Both figures are measured in the same run, on a fresh
embedded vault (SQLite) in a temporary folder, or on PostgreSQL with --database-url.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.custody import Action
from custodes.services import audit, verify
from custodes.services.common import event
from custodes.services.state import check_state


def machine() -> dict[str, str | int]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count() or 0, "python": platform.python_version()}


class _NoStateCheck:
    """Stands in for ``verify.StateCheck`` to time verify without it."""

    def __init__(self, uow: object) -> None:
        pass

    def feed_many(self, rows: object) -> None:
        pass

    def finish(self) -> list[object]:
        return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--single", type=int, default=500, help="single-event transactions to time")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        settings = Settings(home=Path(tmp) / "vault", database_url=args.database_url)
        vault = bootstrap.init_vault(settings)

        t0 = time.perf_counter()
        for i in range(args.single):
            with vault.uow() as uow:
                audit.record(uow, event(vault, "admin", Action.VIEW, evidence_id=f"EV-{i}"))
                audit.commit(uow, vault)
        single_rate = args.single / (time.perf_counter() - t0)

        remaining = args.events - args.single - 2
        t0 = time.perf_counter()
        done = 0
        while done < remaining:
            n = min(args.batch, remaining - done)
            with vault.uow() as uow:
                audit.append(
                    uow,
                    [
                        event(
                            vault,
                            f"user{(done + k) % 50}",
                            Action.VIEW,
                            case_number=f"C-{(done + k) % 997}",
                            evidence_id=f"EV-{done + k}",
                            reason="routine review",
                        )
                        for k in range(n)
                    ],
                )
                audit.commit(uow, vault)
            done += n
        batch_secs = time.perf_counter() - t0
        batch_rate = done / batch_secs

        t0 = time.perf_counter()
        result = verify.verify_vault(vault, "admin")
        verify_secs = time.perf_counter() - t0
        # The same verify without the part that holds the tables against the log (issue
        # 22), and that part on its own (reading the log again).
        with_state = verify.StateCheck
        verify.StateCheck = _NoStateCheck
        try:
            t0 = time.perf_counter()
            verify.verify_vault(vault, "admin")
            bare_secs = time.perf_counter() - t0
        finally:
            verify.StateCheck = with_state
        t0 = time.perf_counter()
        with vault.uow(readonly=True) as uow:
            state_problems = check_state(uow)
        state_secs = time.perf_counter() - t0
        db_size = sum(f.stat().st_size for f in Path(tmp).rglob("vault.db*"))
        vault.engine.dispose()

    out = {
        "machine": machine(),
        "backend": "postgresql" if args.database_url else "sqlite",
        "events": result.events,
        "batch": args.batch,
        "append_single_per_s": round(single_rate),
        "append_batched_per_s": round(batch_rate),
        "append_goal_per_s": 5000,
        "verify_s": round(verify_secs, 2),
        "verify_goal_s": 10.0,
        "verify_ok": result.ok,
        "verify_without_state_s": round(bare_secs, 2),
        "state_check_alone_s": round(state_secs, 2),
        "state_problems": len(state_problems),
        "db_bytes": db_size,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"machine      {out['machine']}")
        print(f"backend      {out['backend']}")
        print(f"append       {out['append_single_per_s']:>10,} events/s one per transaction")
        print(
            f"append       {out['append_batched_per_s']:>10,} events/s in batches of "
            f"{args.batch} (goal >= 5,000)"
        )
        print(
            f"verify       {out['verify_s']:>10} s for {out['events']:,} events "
            f"(goal < 10 s), ok={out['verify_ok']}"
        )
        print(
            f"verify       {out['verify_without_state_s']:>10} s without the state check "
            "(the tables held against the log)"
        )
        print(f"state check  {out['state_check_alone_s']:>10} s on its own (reading the log again)")
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
