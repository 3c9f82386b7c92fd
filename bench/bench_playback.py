"""Marked playback (issue 18): time to the first segment, and rendering speed, at 720p.

A synthetic 1280x720 bodycam clip (``--seconds``, default 40 s, 30 fps, H.264 + AAC, a
keyframe a second) is ingested into a fresh embedded vault (SQLite and a folder). The
web app runs under uvicorn on loopback; one viewer (a records custodian with an API
token) plays it as an HLS player does, over HTTP:

* ``first_segment_s``: from the ``POST /evidence/{id}/viewings`` request to the last
  byte of segment 0 (start the viewing, re-hash the original, fetch the playlist, render
  segment 0 with the viewer's marks). The target is 2 s. The first viewing of a fresh
  server process also loads the compiled mark (numba, from its on-disk cache), so it is
  reported apart (``cold``) from the following ones (``warm``, median of ``--viewings``);
* ``realtime_factor``: seconds of video delivered per second of wall time while the
  viewer fetches every segment of the clip in order, back to back as a player filling
  its buffer does; each is rendered on demand, and the server renders the next two
  ahead on a background thread (``services.viewings.PREFETCH``), so ``ready`` counts
  those that were ready when asked; the target is at least 1.0 (real time).
  ``cpu_s_per_video_s`` is the CPU the process (server and client) spent per second of
  video: the number of free cores real
  time needs, whatever the load of the machine;
* ``seek_s``: fetching one uncached segment from the middle (a seek), and
  ``cached_s``: fetching it again (reused from the cache).

    .venv/bin/python bench/bench_playback.py [--seconds 40] [--viewings 3]
        [--out bench/results/playback.json]

The machine's load average is recorded before and after: the development machine is
shared with other jobs, so a figure measured under load is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from custodes import bootstrap  # noqa: E402
from custodes.config import Settings  # noqa: E402
from custodes.media.synth import write_bodycam_clip  # noqa: E402
from custodes.services import auth, cases, evidence, users  # noqa: E402
from custodes.web.app import create_app  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(app: Any) -> tuple[uvicorn.Server, str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def _start(client: httpx.Client, ev: str) -> tuple[dict[str, Any], float, float, float]:
    """Start a viewing and fetch its segment 0: (the viewing, seconds to segment 0,
    seconds for the segment request alone, CPU seconds of this process meanwhile)."""
    c0, t0 = time.process_time(), time.perf_counter()
    r = client.post(f"/api/v1/evidence/{ev}/viewings", json={})
    r.raise_for_status()
    started = r.json()
    client.get(started["playlist"]).raise_for_status()
    t1 = time.perf_counter()
    client.get(f"/api/v1/viewings/{started['viewing_id']}/segments/0.ts").raise_for_status()
    t2 = time.perf_counter()
    return started, t2 - t0, t2 - t1, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--viewings", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-playback-") as tmp:
        root = args.workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        clip = root / f"play720-{args.seconds:g}s.mp4"
        if not clip.exists():
            print(f"writing a {args.seconds:g} s 720p clip ...", file=sys.stderr)
            write_bodycam_clip(clip, seconds=args.seconds, width=1280, height=720, fps=30, seed=7)
        vault = bootstrap.init_vault(Settings(home=Path(tmp) / "vault"))
        users.add_user(vault, "admin", "viewer", "records")
        cases.add_case(vault, "admin", "C-BENCH", "playback bench")
        ev = evidence.ingest(vault, "viewer", clip, "C-BENCH").evidence_id
        token = auth.create_token(vault, "viewer", "viewer", timedelta(hours=1)).token
        server, base = _serve(create_app(vault))
        try:
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
            ) as client:
                firsts: list[float] = []
                segment0: list[float] = []
                cpus: list[float] = []
                for _ in range(max(1, args.viewings) + 1):
                    started, first, seg, used = _start(client, ev)
                    firsts.append(first)
                    segment0.append(seg)
                    cpus.append(used)
                # Sustained: the last viewing's every segment, in order, rendered now.
                vid, count = started["viewing_id"], started["segments"]
                duration = started["end_s"] - started["start_s"]
                cpu0, t0 = time.process_time(), time.perf_counter()
                ready = 0
                for n in range(1, count):
                    r = client.get(f"/api/v1/viewings/{vid}/segments/{n}.ts")
                    r.raise_for_status()
                    ready += r.headers["x-segment-cached"] == "1"
                wall = time.perf_counter() - t0
                cpu = time.process_time() - cpu0
                delivered = duration - started["segment_s"]
                # A seek in a fresh viewing, then the same segment again (cached).
                fresh, _, _, _ = _start(client, ev)
                mid = fresh["segments"] // 2
                url = f"/api/v1/viewings/{fresh['viewing_id']}/segments/{mid}.ts"
                t = time.perf_counter()
                client.get(url).raise_for_status()
                seek = time.perf_counter() - t
                t = time.perf_counter()
                r = client.get(url)
                cached = time.perf_counter() - t
                assert r.headers["x-segment-cached"] == "1"
        finally:
            server.should_exit = True
            vault.engine.dispose()
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "shared": "development machine shared with other jobs (see load averages)",
        },
        "clip": {"width": 1280, "height": 720, "fps": 30, "seconds": args.seconds},
        "segment_s": started["segment_s"],
        "first_segment_s": {
            "cold": round(firsts[0], 3),
            "warm_median": round(statistics.median(firsts[1:]), 3),
            "warm_all": [round(x, 3) for x in firsts[1:]],
            "segment_request_only_warm_median": round(statistics.median(segment0[1:]), 3),
            "cpu_s_warm_median": round(statistics.median(cpus[1:]), 3),
            "cpu_s_cold": round(cpus[0], 3),
            "target": 2.0,
        },
        "sustained": {
            "video_s": round(delivered, 3),
            "wall_s": round(wall, 3),
            "realtime_factor": round(delivered / wall, 3),
            "segments": count - 1,
            "ready": ready,
            "cpu_s_this_process": round(cpu, 3),
            "cpu_s_per_video_s": round(cpu / delivered, 3),
            "cores_needed_for_real_time": round(cpu / delivered, 3),
            "target": 1.0,
        },
        "seek_s": round(seek, 3),
        "cached_s": round(cached, 3),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
