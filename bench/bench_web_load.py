"""The web server under load (issue 18, Done-means): 50 concurrent API clients reading case
listings, evidence metadata and audit pages while a large resumable upload runs, its
connection cut once and resumed, finishing as evidence with the right SHA-256. On
PostgreSQL, against a real `custodes serve` process.

    .venv/bin/python bench/bench_web_load.py [--upload-mb 2048] [--clients 50]
        [--workers 1] [--baseline-s 15] [--admin-url postgresql+psycopg://...]

It makes a fresh database on the PostgreSQL server of --admin-url (dropped at the end)
and a vault on it in a temporary folder (BENCH_TMP), with 10 cases of 3 short clips each,
a records clerk and an API token. `custodes serve --workers N` listens on loopback.

1. Baseline: --clients clients for --baseline-s seconds, no upload.
2. Under upload: a second process sends the --upload-mb video (bench_ingest's raw
   Matroska) with tus: one PATCH cut by the client after --drop-at of it, HEAD for the
   offset kept, a PATCH with the rest, whose answer is the evidence (checked against the
   file's SHA-256). The clients run from the upload's start to its end.

Each client loops (back to back, or --think-ms apart) over four requests, with the
token: `GET /api/v1/cases` and `GET /api/v1/evidence?case=C` (listing),
`GET /api/v1/evidence/{id}` (evidence metadata: opening it is a view on the audit log, a
write), `GET /api/v1/audit/events?case=C&last=50` (an audit page). Reported per kind:
p50/p95/p99 latency (ms), requests/s, errors; the upload's MB/s; the CPU seconds of the
server processes and of the clients. The goal is p99 < 200 ms for every kind. JSON to
--out (bench/results/web_load.json).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import multiprocessing as mp
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import machine, make_video
from bench_upload import Cut, _body
from custodes import bootstrap
from custodes.config import Settings
from custodes.media.synth import write_bodycam_clip
from custodes.services import auth, cases, evidence, users

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CASES = 10
PER_CASE = 3
KINDS = ("cases", "evidence-list", "evidence", "audit")
GOAL_P99_MS = 200.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the database and the vault ------------------------------------------------------


def make_database(admin_url: str) -> str:
    name = "custodes_bench_" + secrets.token_hex(4)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@dataclass
class Fixture:
    token: str
    cases: list[str]
    evidence: list[str]


def make_vault(home: Path, url: str, clips: Path) -> Fixture:
    vault = bootstrap.init_vault(Settings(home=home, database_url=url))
    users.add_user(vault, "admin", "rec", "records", "correct horse battery staple")
    numbers, items = [], []
    for c in range(CASES):
        number = f"2026-{c + 1:04d}"
        cases.add_case(vault, "rec", number, f"Bench case {c + 1}")
        numbers.append(number)
        for k in range(PER_CASE):
            clip = write_bodycam_clip(
                clips / f"{number}-{k}.mp4",
                seconds=1,
                width=160,
                height=90,
                fps=10,
                seed=c * PER_CASE + k + 1,
                audio=False,
            )
            items.append(evidence.ingest(vault, "rec", clip, number).evidence_id)
    token = auth.create_token(vault, "admin", "rec", timedelta(hours=6)).token
    vault.engine.dispose()
    return Fixture(token, numbers, items)


# ---- the server ----------------------------------------------------------------------


def start_server(
    home: Path, url: str, port: int, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CUSTODES_DATABASE_URL": url}
    # `custodes serve` as an operator starts it (the console script of this interpreter).
    command = [sys.executable, "-m", "custodes", "--home", str(home), "serve"]
    command += ["--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"custodes serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    time.sleep(1.0 if workers > 1 else 0)  # the other workers come up too
    return server


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


# ---- the upload (its own process) ----------------------------------------------------


def upload(base: str, token: str, case: str, src: str, sha: str, drop_at: float, out: Any) -> None:
    """Send ``src`` with tus, cut once at ``drop_at`` of it and resumed; ``out.put`` the
    figures (or the error)."""
    path = Path(src)
    size = path.stat().st_size
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=900) as client:
            meta = ",".join(
                f"{k} {base64.b64encode(v.encode()).decode()}"
                for k, v in {"case": case, "filename": path.name, "sha256": sha}.items()
            )
            out.put({"started": True})  # the clients begin with the first request
            t0 = time.perf_counter()
            r = client.post(
                "/api/v1/uploads", headers={"Upload-Length": str(size), "Upload-Metadata": meta}
            )
            assert r.status_code == 201, r.text
            url = r.headers["Location"]
            patch = {"Content-Type": "application/offset+octet-stream"}
            cut_after = int(size * drop_at)
            try:
                client.patch(
                    url,
                    content=_body(path, 0, cut_after),
                    headers={**patch, "Upload-Offset": "0", "Content-Length": str(size)},
                )
                raise AssertionError("the first PATCH was meant to be cut")
            except Cut:
                pass
            first_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            for attempt in range(1, 11):  # noqa: B007 - reported
                kept = int(client.head(url).headers["Upload-Offset"])
                r = client.patch(
                    url,
                    content=_body(path, kept, None),
                    headers={
                        **patch,
                        "Upload-Offset": str(kept),
                        "Content-Length": str(size - kept),
                    },
                )
                if r.status_code != 409:
                    break
                time.sleep(1)
            rest_s = time.perf_counter() - t1
            assert r.status_code == 204, r.text
            shown = client.get(url).json()
            assert shown["sha256"] == sha, shown
            assert shown["evidence_id"] == r.headers["Custodes-Evidence-Id"]
        out.put(
            {
                "file_mb": round(size / 1e6, 1),
                "cut_after_mb": round(cut_after / 1e6, 1),
                "kept_at_cut_mb": round(kept / 1e6, 1),
                "resume_attempts": attempt,
                "first_patch_s": round(first_s, 2),
                "resumed_patch_s_incl_ingest": round(rest_s, 2),
                "total_s": round(first_s + rest_s, 2),
                "mb_s": round(size / 1e6 / (first_s + rest_s), 1),
                "evidence": shown["evidence_id"],
                "sha256_ok": True,
            }
        )
    except BaseException as exc:  # reported by the parent
        out.put({"error": f"{type(exc).__name__}: {exc}"})


# ---- the clients ---------------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    first_error: str | None = None


async def client_loop(
    client: httpx.AsyncClient, n: int, fx: Fixture, stop: asyncio.Event, tally: Tally, think: float
) -> None:
    i = n
    while not stop.is_set():
        if think:  # a person reading the page before the next click
            await asyncio.sleep(think * (0.5 + (i * 7919 % 1000) / 1000))
        case = fx.cases[i % len(fx.cases)]
        kind = KINDS[i % len(KINDS)]
        if kind == "cases":
            path = "/api/v1/cases"
        elif kind == "evidence-list":
            path = f"/api/v1/evidence?case={case}"
        elif kind == "evidence":
            path = f"/api/v1/evidence/{fx.evidence[i % len(fx.evidence)]}"
        else:
            path = f"/api/v1/audit/events?case={case}&last=50"
        t0 = time.perf_counter()
        try:
            r = await client.get(path)
            ok = r.status_code == 200
            why = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            ok, why = False, f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - t0
        if ok:
            tally.latencies[kind].append(elapsed)
        else:
            tally.errors[kind] += 1
            tally.first_error = tally.first_error or f"{path}: {why}"
        i += 1


async def load(
    base: str, fx: Fixture, clients: int, until: Any, think: float = 0.0
) -> tuple[Tally, float]:
    """``clients`` loops until ``until()`` (a coroutine) returns; the tally and seconds."""
    tally = Tally()
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {fx.token}", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:
        t0 = time.perf_counter()
        tasks = [
            asyncio.create_task(client_loop(c, n, fx, stop, tally, think)) for n in range(clients)
        ]
        await until()
        stop.set()
        await asyncio.gather(*tasks)
        return tally, time.perf_counter() - t0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


def summary(tally: Tally, seconds: float) -> dict[str, Any]:
    kinds = {}
    for kind in KINDS:
        lat = tally.latencies[kind]
        kinds[kind] = {
            "requests": len(lat),
            "errors": tally.errors[kind],
            "p50_ms": round(_pct(lat, 50), 1),
            "p95_ms": round(_pct(lat, 95), 1),
            "p99_ms": round(_pct(lat, 99), 1),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
        }
    every = [x for k in KINDS for x in tally.latencies[k]]
    return {
        "seconds": round(seconds, 1),
        "requests": len(every),
        "requests_per_s": round(len(every) / seconds, 1),
        "errors": sum(tally.errors.values()),
        "first_error": tally.first_error,
        "p99_ms_all": round(_pct(every, 99), 1),
        "goal_p99_met": all(
            bool(tally.latencies[k])
            and _pct(tally.latencies[k], 99) < GOAL_P99_MS
            and not tally.errors[k]
            for k in KINDS
        ),
        "kinds": kinds,
    }


# ---- main ----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--upload-mb", type=int, default=2048)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="custodes serve --workers")
    ap.add_argument("--baseline-s", type=float, default=15.0)
    ap.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="each client waits 0.5-1.5x this between requests (0: back to back)",
    )
    ap.add_argument("--drop-at", type=float, default=0.5)
    ap.add_argument("--admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", ADMIN_URL))
    ap.add_argument("--out", type=Path, default=Path("bench/results/web_load.json"))
    ap.add_argument("--note", default="")
    args = ap.parse_args()

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    url = make_database(args.admin_url)
    server = None
    try:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            root = Path(tmp)
            (root / "clips").mkdir()
            t = time.perf_counter()
            fx = make_vault(root / "vault", url, root / "clips")
            print(
                f"vault on {make_url(url).database}: {len(fx.evidence)} items "
                f"in {time.perf_counter() - t:.1f} s",
                flush=True,
            )
            src = root / "bodycam.mkv"
            t = time.perf_counter()
            make_video(src, args.upload_mb)
            digest = hashlib.sha256()
            with open(src, "rb") as fh:
                while block := fh.read(8 << 20):
                    digest.update(block)
            sha = digest.hexdigest()
            print(
                f"video {src.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s",
                flush=True,
            )

            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_server(root / "vault", url, port, args.workers, root / "serve.log")
            pids = _tree(server.pid)
            think = args.think_ms / 1000

            async def seconds(s: float) -> None:
                await asyncio.sleep(s)

            # 1. Baseline, no upload.
            cpu0, me0 = cpu_seconds(pids), time.process_time()
            tally, took = asyncio.run(
                load(base, fx, args.clients, lambda: seconds(args.baseline_s), think)
            )
            baseline = summary(tally, took)
            baseline["server_cpu_s"] = round(cpu_seconds(pids) - cpu0, 1)
            baseline["client_cpu_s"] = round(time.process_time() - me0, 1)
            print("baseline", json.dumps(baseline), flush=True)

            # 2. The same clients while the upload runs, from its first byte to its end.
            ctx = mp.get_context("spawn")
            results = ctx.Queue()
            sender = ctx.Process(
                target=upload,
                args=(base, fx.token, fx.cases[0], str(src), sha, args.drop_at, results),
            )

            async def until_uploaded() -> None:
                while sender.is_alive() and results.empty():
                    await asyncio.sleep(0.2)

            sender.start()
            assert results.get(timeout=120) == {"started": True}
            cpu0, me0 = cpu_seconds(pids), time.process_time()
            tally, took = asyncio.run(load(base, fx, args.clients, until_uploaded, think))
            sender.join(timeout=60)
            uploaded = results.get(timeout=5) if not results.empty() else {"error": "no result"}
            under = summary(tally, took)
            under["server_cpu_s"] = round(cpu_seconds(pids) - cpu0, 1)
            under["client_cpu_s"] = round(time.process_time() - me0, 1)
            print("under upload", json.dumps(under), flush=True)
            print("upload", json.dumps(uploaded), flush=True)
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
            server = None
            for blob in (root / "vault" / "blobs").rglob("*"):
                if blob.is_file():
                    blob.chmod(0o600)
                    blob.unlink()
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        drop_database(args.admin_url, url)

    load_avg = Path("/proc/loadavg").read_text().split()[:3]
    run = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": " ".join(load_avg),
        "database": "PostgreSQL " + make_url(args.admin_url).render_as_string().split("@")[-1],
        "command": "bench/bench_web_load.py " + " ".join(sys.argv[1:]),
        "clients": args.clients,
        "workers": args.workers,
        "think_ms": args.think_ms,
        "upload_mb": args.upload_mb,
        "note": args.note,
        "baseline": baseline,
        "under_upload": under,
        "upload": uploaded,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(args.out.read_text())["runs"] if args.out.exists() else []
    args.out.write_text(json.dumps({"runs": [*runs, run]}, indent=2) + "\n")
    print(json.dumps(run, indent=2))
    if "error" in uploaded:
        raise SystemExit(f"the upload failed: {uploaded['error']}")


if __name__ == "__main__":
    main()
