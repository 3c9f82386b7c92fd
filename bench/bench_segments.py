"""Segment-parallel export: one worker process against two.

A synthetic bodycam recording (default 10 minutes, 1280x720, 30 fps, H.264 + AAC, a
keyframe a second) is exported (invisible mark, visible line, CRF 23 veryfast) three
ways, each ``--reps`` times, the order rotating every round:

* ``single``: :func:`custodes.media.render.render` in this process, no segments (what
  an export under ``CUSTODES_SEGMENT_SECONDS`` costs);
* ``workers1``: the export planned in segments at keyframes
  (:func:`custodes.media.segments.plan_segments`, ``--segment`` seconds), every segment
  rendered by ONE worker process, then joined here by copying packets;
* ``workers2``: the same with TWO worker processes taking segments as they free up.

* ``jobs1`` / ``jobs2`` (``--jobs``): the real thing. A vault on PostgreSQL (a fresh
  schema of ``--database-url``), the recording ingested, and ONE or TWO
  ``custodes worker`` processes (Procrastinate, ``CUSTODES_SEGMENT_SECONDS`` =
  ``--segment``); the clock runs from the export's request (``services.jobs.
  request_export``) until its job is done: the parent job plans and fans out one job per
  segment, the workers take them as they free up, the last one queues the join, which
  puts the copy on record. CPU seconds are the worker processes'.

The worker processes are started (and the compiled mark loaded in them) before the
clock starts, as long-lived ``custodes worker`` processes are. The figure is
``speedup`` = workers1 seconds / workers2 seconds (issue 19's goal: >= 1.7 on 2 cores),
and the joined copy's frame count is checked against the single render's. Each run
also gives the CPU seconds its processes used (Linux ``/proc``) and ``cores_busy`` =
CPU seconds / wall seconds: how much of the machine the run got.

    .venv/bin/python bench/bench_segments.py [--seconds 600] [--segment 60] [--reps 1]
    .venv/bin/python bench/bench_segments.py --seconds 120 --out bench/results/segments.json
    .venv/bin/python bench/bench_segments.py --jobs --seconds 20 --segment 5 \
        --out bench/results/segments-jobs.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from custodes.core import watermark as wm
from custodes.media.render import EncodeSettings, render
from custodes.media.segments import Segment, join_parts, plan_segments, render_part
from custodes.media.synth import write_bodycam_clip

KEY = wm.derive_key(b"bench-segments-secret-0123456789", "EX-BENCH")
TEXT = "COPY FOR bench  EX-BENCH"
SETTINGS = EncodeSettings()


def _marker(w: int, h: int) -> Any:
    from custodes.media.fastmark import FastEmbedder

    return FastEmbedder(KEY, w, h, wm.MarkParams())


def _warm(size: tuple[int, int]) -> int:
    """Load the compiled mark in a worker (numba's cache) before the clock starts."""
    import numpy as np

    w, h = size
    _marker(w, h).mark_luma(np.full((h, w), 128, np.uint8), 0.0)
    return os.getpid()


def _render_part(src: str, dest: str, seg: Segment, size: tuple[int, int]) -> tuple[int, float]:
    t0 = time.perf_counter()
    r = render_part(
        Path(src),
        Path(dest),
        seg,
        height=None,
        marker=_marker(*size),
        visible_text=TEXT,
        settings=SETTINGS,
    )
    return r.frames, time.perf_counter() - t0


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` have used so far (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def _segmented(
    pool: ProcessPoolExecutor,
    src: Path,
    plan: list[Segment],
    size: tuple[int, int],
    work: Path,
    seconds: float,
) -> dict[str, Any]:
    dest = work / "joined.mp4"
    parts = [work / f"part-{s.index:04d}.mp4" for s in plan]
    pids = [*pool._processes]  # the worker processes (started and warmed already)
    cpu0 = _cpu_s(pids)
    own0 = time.process_time()
    t0 = time.perf_counter()
    futures = [
        pool.submit(_render_part, str(src), str(p), s, size)
        for s, p in zip(plan, parts, strict=True)
    ]
    rendered = [f.result() for f in futures]
    t1 = time.perf_counter()
    joined = join_parts(parts, src, dest, start_s=0.0, end_s=seconds, settings=SETTINGS)
    t2 = time.perf_counter()
    cpu = _cpu_s(pids) - cpu0 + time.process_time() - own0
    for p in parts:
        p.unlink()
    dest.unlink()
    return {
        "wall_s": t2 - t0,
        "render_s": t1 - t0,
        "join_s": t2 - t1,
        "cpu_s": cpu,
        "cores_busy": cpu / (t2 - t0),
        "frames": joined.frames,
        "part_frames": sum(f for f, _ in rendered),
    }


def _single(src: Path, size: tuple[int, int], work: Path, seconds: float) -> dict[str, Any]:
    dest = work / "single.mp4"
    own0 = time.process_time()
    t0 = time.perf_counter()
    r = render(
        src,
        dest,
        start_s=0.0,
        end_s=seconds,
        marker=_marker(*size),
        visible_text=TEXT,
        settings=SETTINGS,
    )
    wall = time.perf_counter() - t0
    cpu = time.process_time() - own0
    dest.unlink()
    return {"wall_s": wall, "frames": r.frames, "cpu_s": cpu, "cores_busy": cpu / wall}


def _start_worker(home: Path, url: str, segment: float, log: Path) -> Any:
    import subprocess
    import sys

    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
        "CUSTODES_HOME": str(home),
        "CUSTODES_DATABASE_URL": url,
        "CUSTODES_SEGMENT_SECONDS": str(segment),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "custodes", "worker", "--heartbeat", "2"],
            env=env,
            stdout=out,
            stderr=out,
        )


def _jobs_runs(args: argparse.Namespace, src: Path, workdir: Path) -> dict[str, dict[str, Any]]:
    """``jobs1`` and ``jobs2``: one export job through one or two real workers."""
    import secrets

    from sqlalchemy import create_engine, make_url, text

    from custodes import bootstrap
    from custodes.config import Settings
    from custodes.services import evidence, jobs
    from custodes.services.users import add_user

    schema = "bench_" + secrets.token_hex(4)
    admin = create_engine(args.database_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = (
        make_url(args.database_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    out: dict[str, dict[str, Any]] = {}
    try:
        vault = bootstrap.init_vault(Settings(home=workdir / "vault", database_url=url))
        case = "BENCH-1"
        from custodes.services.cases import add_case

        add_case(vault, "admin", case, "bench")
        ev = evidence.ingest(vault, "admin", src, case).evidence_id
        add_user(vault, "admin", "sup", "supervisor")
        for n in (1, 2):
            log = workdir / f"workers{n}.log"
            procs = [_start_worker(vault.home, url, args.segment, log) for _ in range(n)]
            try:
                # Warm each worker (its interpreter, the compiled mark) with a short export
                # of its own, as long-lived workers are warm, before the clock starts.
                warm = [
                    jobs.request_export(
                        vault,
                        "sup",
                        jobs.RequestExport(ev, recipient="Warm", purpose="warm", end=1.0),
                    ).job_id
                    for _ in procs
                ]
                while any(
                    jobs.show_job(vault, "sup", w).status in ("queued", "running") for w in warm
                ):
                    if any(p.poll() is not None for p in procs):
                        raise SystemExit(f"a worker died: see {log}")
                    time.sleep(0.2)
                time.sleep(args.warmup)
                cpu0 = _cpu_s([p.pid for p in procs])
                t0 = time.perf_counter()
                job = jobs.request_export(
                    vault, "sup", jobs.RequestExport(ev, recipient=f"Bench {n}", purpose="bench")
                )
                while True:
                    shown = jobs.show_job(vault, "sup", job.job_id)
                    if shown.status not in ("queued", "running"):
                        break
                    if any(p.poll() is not None for p in procs):
                        raise SystemExit(f"a worker died: see {log}")
                    time.sleep(0.2)
                wall = time.perf_counter() - t0
                cpu = _cpu_s([p.pid for p in procs]) - cpu0
            finally:
                for p in procs:
                    p.terminate()
                    p.wait(30)
            if shown.status != "done" or shown.result is None:
                raise SystemExit(f"the export job ended {shown.status}: {shown.error}")
            for made in (vault.export_dir or workdir).glob("*.mp4"):
                made.unlink()
            with vault.uow(readonly=True) as uow:
                segment_jobs = len(uow.jobs.children(job.job_id))
            out[f"jobs{n}"] = {
                "wall_s": wall,
                "frames": shown.result["frames"],
                "cpu_s": cpu,
                "cores_busy": cpu / wall,
                "segment_jobs": segment_jobs,
            }
            print(
                f"jobs{n}: {wall:.1f} s ({shown.result['frames']} frames), {cpu:.0f} CPU-s, "
                f"{cpu / wall:.2f} cores busy",
                flush=True,
            )
        vault.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--segment", type=float, default=60.0, help="segment length (s)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--no-single", action="store_true", help="leave out the single render")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated clip here")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    ap.add_argument(
        "--jobs", action="store_true", help="also: the export as jobs through real workers"
    )
    ap.add_argument("--only-jobs", action="store_true", help="only the jobs runs")
    ap.add_argument(
        "--database-url",
        default=os.environ.get(
            "CUSTODES_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    ap.add_argument("--warmup", type=float, default=2.0, help="idle seconds before timing")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    size = (w, h)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-segments-"))
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / f"rec-{args.seconds:g}s-{w}x{h}.mp4"
    if not src.exists():
        t0 = time.perf_counter()
        write_bodycam_clip(src, seconds=args.seconds, width=w, height=h, fps=args.fps, seed=11)
        print(f"generated {src.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    plan = plan_segments(src, 0.0, args.seconds, args.segment)
    print(f"{len(plan)} segments of about {args.segment:g} s", flush=True)
    load = [os.getloadavg()[0]]
    jobs_runs = _jobs_runs(args, src, workdir) if args.jobs or args.only_jobs else {}
    load.append(os.getloadavg()[0])
    if args.only_jobs:
        result_jobs: dict[str, Any] = {
            "bench": "segments-jobs",
            "command": "bench/bench_segments.py --only-jobs "
            + f"--seconds {args.seconds:g} --size {args.size} --segment {args.segment:g}",
            "recording": {"seconds": args.seconds, "size": args.size, "fps": args.fps},
            "segments": len(plan),
            "runs": jobs_runs,
            "speedup_jobs2_vs_jobs1": round(
                jobs_runs["jobs1"]["wall_s"] / jobs_runs["jobs2"]["wall_s"], 3
            ),
            "same_frames": len({r["frames"] for r in jobs_runs.values()}) == 1,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "load_average_1min_during": [round(v, 1) for v in load],
            },
        }
        print(json.dumps({k: result_jobs[k] for k in ("runs", "speedup_jobs2_vs_jobs1")}))
        if args.out is not None:
            args.out.write_text(json.dumps(result_jobs, indent=1) + "\n")
        return
    _warm(size)
    ctx = multiprocessing.get_context("spawn")
    pools = {n: ProcessPoolExecutor(n, mp_context=ctx) for n in (1, 2)}
    for n, pool in pools.items():
        list(pool.map(_warm, [size] * n))
    modes = ["workers1", "workers2"] + ([] if args.no_single else ["single"])
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    try:
        for rep in range(args.reps):
            order = modes[rep % len(modes) :] + modes[: rep % len(modes)]
            for mode in order:
                if mode == "single":
                    r = _single(src, size, workdir, args.seconds)
                else:
                    pool = pools[1 if mode == "workers1" else 2]
                    r = _segmented(pool, src, plan, size, workdir, args.seconds)
                runs[mode].append(r)
                load.append(os.getloadavg()[0])
                print(
                    f"{mode}: {r['wall_s']:.1f} s ({r['frames']} frames), "
                    f"{r['cpu_s']:.0f} CPU-s, {r['cores_busy']:.2f} cores busy",
                    flush=True,
                )
    finally:
        for pool in pools.values():
            pool.shutdown()
    med = {m: statistics.median(r["wall_s"] for r in rs) for m, rs in runs.items()}
    frames = {m: rs[0]["frames"] for m, rs in runs.items()}
    result: dict[str, Any] = {
        "bench": "segments",
        "command": "bench/bench_segments.py "
        + f"--seconds {args.seconds:g} --size {args.size} --segment {args.segment:g} "
        + f"--reps {args.reps}",
        "recording": {"seconds": args.seconds, "size": args.size, "fps": args.fps},
        "segments": len(plan),
        "median_wall_s": {m: round(v, 2) for m, v in med.items()},
        "runs": runs,
        "frames": frames,
        "same_frames": len(set(frames.values())) == 1,
        "speedup_2_vs_1": round(med["workers1"] / med["workers2"], 3),
        **(
            {
                "jobs": jobs_runs,
                "speedup_jobs2_vs_jobs1": round(
                    jobs_runs["jobs1"]["wall_s"] / jobs_runs["jobs2"]["wall_s"], 3
                ),
            }
            if jobs_runs
            else {}
        ),
        **(
            {"workers1_vs_single": round(med["single"] / med["workers1"], 3)}
            if "single" in med
            else {}
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1min_during": [round(v, 1) for v in load],
        },
    }
    print(json.dumps({k: result[k] for k in ("median_wall_s", "speedup_2_vs_1")}))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
