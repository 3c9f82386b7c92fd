"""Leak location: accuracy per transform class, false alarms, and speed.

Generates ``--sources`` synthetic bodycam sources (``--seconds`` each, ``--size``,
30 fps, distinct seeds) and, for every transform class, ``--trials`` leaks of
``--leak-seconds`` cut at random offsets from random sources with
:func:`custodes.media.leak.simulate_leak`. Each leak is fingerprinted and located among
all sources. A trial is a hit when the first match names the right source and its
offset is within one source frame of the truth (for a speed change, where the leak's
middle maps). The ``null`` class cuts leaks from clips that are not among the sources:
any match there is a false alarm.

Speed: fingerprinting seconds per hour of video (decode included) on a 640x360 30 fps
clip, and the time to locate a 10 s leak in an hour of indexed sources (the hour is
made by chaining the fingerprints of the generated sources). With ``--register``, also
the registration rate and milliseconds a frame of
:func:`custodes.media.leak.iter_registered_frames` on the first 2 s of each leak.

    .venv/bin/python bench/bench_locate.py [--trials 6] [--json] [--register]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from custodes.media.fingerprint import Fingerprint, fingerprint_video  # noqa: E402
from custodes.media.leak import LEAK_TRANSFORMS, iter_registered_frames, simulate_leak  # noqa: E402
from custodes.media.locate import MIN_SCORE, MIN_Z, SourceMatch, locate  # noqa: E402
from custodes.media.synth import write_bodycam_clip  # noqa: E402

# Transform classes: (picture transform, output fps or None, playback rate).
CLASSES: dict[str, tuple[str, float | None, float]] = {
    **{t: (t, None, 1.0) for t in LEAK_TRANSFORMS},
    "fps25": ("reencode", 25.0, 1.0),
    "fps24": ("reencode", 24.0, 1.0),
    "fps15": ("reencode", 15.0, 1.0),
    "crop+fps25": ("crop", 25.0, 1.0),
    "speed+3%": ("reencode", None, 1.03),
    "null": ("crop", None, 1.0),
}


@dataclass
class Trial:
    cls: str
    source: str
    start: float
    hit: bool
    err_frames: float
    score: float
    z: float
    found: str | None
    locate_ms: float
    reg_rate: float | None = None
    reg_ms: float | None = None


@dataclass
class Summary:
    cls: str
    trials: int
    hits: int
    false_alarms: int
    err_frames_median: float
    err_frames_max: float
    score_median: float
    z_min: float
    z_max: float
    locate_ms_median: float
    reg_rate: float | None = None
    reg_ms: float | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = math.nan
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "load_1min": round(load, 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def fingerprint_speed(work: Path, seconds: float) -> dict[str, float]:
    """Seconds of work per hour of 640x360 30 fps H.264 video."""
    clip = work / f"speed_640x360_{seconds:g}s.mp4"
    if not clip.exists():
        write_bodycam_clip(
            clip, seconds=seconds, width=640, height=360, fps=30, seed=99, audio=False
        )
    fingerprint_video(clip, max_seconds=2.0)  # warm caches
    best = math.inf
    for _ in range(2):
        t0 = time.perf_counter()
        fp = fingerprint_video(clip)
        best = min(best, time.perf_counter() - t0)
    return {
        "clip_s": fp.duration_s,
        "fingerprint_s": best,
        "s_per_hour": best / fp.duration_s * 3600,
        "bytes_per_hour": len(fp.to_bytes()) / fp.duration_s * 3600,
    }


def hour_of_sources(fillers: list[Fingerprint], target: Fingerprint) -> tuple[Fingerprint, float]:
    """About an hour of fingerprint: the fillers chained over and over, with ``target``
    spliced in once half way. Returns it and where ``target`` starts in it."""
    times: list[np.ndarray] = []
    feats: list[np.ndarray] = []
    t = 0.0
    at = math.nan
    while t < 3600:
        for fp in fillers:
            if math.isnan(at) and t >= 1800:
                at = t
                times.append(target.times - target.times[0] + t)
                feats.append(target.feats)
                t += target.duration_s
            times.append(fp.times - fp.times[0] + t)
            feats.append(fp.feats)
            t += fp.duration_s
    hour = Fingerprint(
        target.fps, np.concatenate(times), np.concatenate(feats), target.width, target.height
    )
    return hour, at


def run_trial(
    cls: str,
    leak_path: Path,
    src_id: str,
    src_path: Path | None,
    start: float,
    rate: float,
    sources: dict[str, Fingerprint],
    frame: float,
    register: bool,
    leak_seconds: float,
) -> Trial:
    leak = fingerprint_video(leak_path)
    t0 = time.perf_counter()
    matches = locate(leak, sources, max_speed_change=0.05 if rate != 1.0 else 0.0)
    ms = (time.perf_counter() - t0) * 1000
    best: SourceMatch | None = matches[0] if matches else None
    if cls == "null":
        # What the best chance alignment scores with the thresholds off: the margin.
        loose = locate(leak, sources, min_score=-1.0, min_z=-math.inf, max_pieces=1)
        chance = loose[0] if loose else None
        return Trial(
            cls, src_id, start, best is None, math.nan,
            chance.score if chance else math.nan, chance.z if chance else math.nan,
            best.source_id if best else None, ms,
        )  # fmt: skip
    if best is None:
        return Trial(cls, src_id, start, False, math.nan, math.nan, math.nan, None, ms)
    mid = 0.5 * leak_seconds
    err = (best.to_source(mid) - (start + rate * mid)) / frame
    hit = best.source_id == src_id and abs(err) <= 1.0
    trial = Trial(cls, src_id, start, hit, err, best.score, best.z, best.source_id, ms)
    if register and hit and src_path is not None:
        span = SourceMatch(
            best.source_id, best.offset_s, best.rate, best.score, best.confidence,
            best.mirrored, 0.0, 2.0,
        )  # fmt: skip
        n = ok = 0
        t1 = time.perf_counter()
        for rf in iter_registered_frames(leak_path, src_path, span):
            n += 1
            ok += rf.registration is not None
        trial.reg_ms = (time.perf_counter() - t1) * 1000 / max(n, 1)
        trial.reg_rate = ok / max(n, 1)
    return trial


def summarise(cls: str, trials: list[Trial]) -> Summary:
    errs = [abs(t.err_frames) for t in trials if not math.isnan(t.err_frames)]
    scores = [t.score for t in trials if not math.isnan(t.score)]
    zs = [t.z for t in trials if not math.isnan(t.z)]
    regs = [t.reg_rate for t in trials if t.reg_rate is not None]
    reg_ms = [t.reg_ms for t in trials if t.reg_ms is not None]
    return Summary(
        cls=cls,
        trials=len(trials),
        hits=sum(t.hit for t in trials),
        false_alarms=sum(t.found is not None for t in trials) if cls == "null" else 0,
        err_frames_median=statistics.median(errs) if errs else math.nan,
        err_frames_max=max(errs) if errs else math.nan,
        score_median=statistics.median(scores) if scores else math.nan,
        z_min=min(zs) if zs else math.nan,
        z_max=max(zs) if zs else math.nan,
        locate_ms_median=statistics.median(t.locate_ms for t in trials),
        reg_rate=statistics.mean(regs) if regs else None,
        reg_ms=statistics.median(reg_ms) if reg_ms else None,
        failures=[
            {"source": t.source, "start": t.start, "found": t.found, "err_frames": t.err_frames}
            for t in trials
            if not t.hit
        ],
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--trials", type=int, default=6, help="leaks per transform class")
    ap.add_argument("--sources", type=int, default=3, help="number of indexed sources")
    ap.add_argument("--seconds", type=float, default=40.0, help="length of each source")
    ap.add_argument("--leak-seconds", type=float, default=10.0)
    ap.add_argument("--size", default="320x180", help="source frame size WxH")
    ap.add_argument("--classes", default=",".join(CLASSES), help="comma-separated classes")
    ap.add_argument("--speed-seconds", type=float, default=60.0, help="clip for the speed test")
    ap.add_argument("--register", action="store_true", help="also time registration")
    ap.add_argument("--workdir", type=Path, help="keep generated media here (reused)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    classes = [c for c in args.classes.split(",") if c]
    unknown = set(classes) - set(CLASSES)
    if unknown:
        ap.error(f"unknown classes: {', '.join(sorted(unknown))}")

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_locate_")
        work = Path(tmp.name)
    else:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    log = sys.stderr if args.json else sys.stdout

    t0 = time.perf_counter()
    paths: dict[str, Path] = {}
    for k in range(args.sources + 2):  # the last two are never indexed: null leaks
        p = work / f"src{k}_{w}x{h}_{args.seconds:g}s.mp4"
        if not p.exists():
            write_bodycam_clip(
                p, seconds=args.seconds, width=w, height=h, fps=30, seed=1000 + k,
                audio=False, night=(k % 3 == 2),
            )  # fmt: skip
        paths[f"S{k}"] = p
    indexed = [f"S{k}" for k in range(args.sources)]
    outside = [f"S{k}" for k in range(args.sources, args.sources + 2)]
    sources = {sid: fingerprint_video(paths[sid]) for sid in indexed}
    print(f"sources ready in {time.perf_counter() - t0:.1f} s", file=log)

    trials: dict[str, list[Trial]] = {c: [] for c in classes}
    frame = 1.0 / 30
    for cls in classes:
        transform, fps, rate = CLASSES[cls]
        for i in range(args.trials):
            pool = outside if cls == "null" else indexed
            sid = pool[int(rng.integers(len(pool)))]
            span = args.leak_seconds * rate
            start = round(float(rng.uniform(0.2, args.seconds - span - 0.5)), 3)
            leak_path = work / f"leak_{cls}_{i}.mp4"
            simulate_leak(
                paths[sid], leak_path, start_s=start, seconds=args.leak_seconds,
                transform=transform, fps=fps, rate=rate, seed=int(rng.integers(1 << 30)),
            )  # fmt: skip
            trial = run_trial(
                cls, leak_path, sid, paths[sid], start, rate, sources, frame,
                args.register and cls != "null", args.leak_seconds,
            )  # fmt: skip
            trials[cls].append(trial)
            leak_path.unlink()
        s = summarise(cls, trials[cls])
        print(f"  {cls:14s} {s.hits}/{s.trials}", file=log)

    speed = fingerprint_speed(work, args.speed_seconds)
    fillers = [sources[sid] for sid in indexed[1:]] + [fingerprint_video(paths[s]) for s in outside]
    hour, at = hour_of_sources(fillers, sources[indexed[0]])
    probe_path = work / "hour_probe.mp4"
    start = 12.345
    simulate_leak(paths[indexed[0]], probe_path, start_s=start, seconds=10.0, transform="crop")
    probe = fingerprint_video(probe_path)
    t1 = time.perf_counter()
    found = locate(probe, {"hour": hour})
    hour_ms = (time.perf_counter() - t1) * 1000
    hour_hit = bool(found) and abs(found[0].offset_s - (at + start)) <= frame

    summaries = [summarise(c, trials[c]) for c in classes]
    info = machine()
    result: dict[str, Any] = {
        "machine": info,
        "config": {
            "sources": args.sources,
            "source_seconds": args.seconds,
            "leak_seconds": args.leak_seconds,
            "size": f"{w}x{h}",
            "trials": args.trials,
            "seed": args.seed,
        },
        "classes": [s.__dict__ for s in summaries],
        "fingerprint_speed": speed,
        "locate_in_one_hour": {
            "hour_s": hour.duration_s,
            "locate_ms": hour_ms,
            "matches": len(found),
            "found_right_offset": hour_hit,
        },
    }
    if tmp is not None:
        tmp.cleanup()
    if args.json:
        print(json.dumps(result, indent=2, default=float))
        return 0

    print()
    head = f"{'class':14s} {'hits':>7s} {'|err| med/max (frames)':>23s}"
    head += f" {'score':>6s} {'z min':>6s} {'locate ms':>9s}"
    if args.register:
        head += f" {'reg rate':>8s} {'reg ms/fr':>9s}"
    print(head)
    for s in summaries:
        hits = f"{s.hits}/{s.trials}"
        if s.cls == "null":
            hits = f"{s.trials - s.false_alarms}/{s.trials}"
        line = (
            f"{s.cls:14s} {hits:>7s} {s.err_frames_median:>11.2f}/{s.err_frames_max:<11.2f}"
            f" {s.score_median:>6.2f} {s.z_min:>6.1f} {s.locate_ms_median:>9.0f}"
        )
        if s.cls == "null":  # the best chance peaks, thresholds off
            line = (
                f"{s.cls:14s} {hits:>7s} {'-':>23s} {s.score_median:>6.2f}"
                f" {s.z_max:>6.1f} {s.locate_ms_median:>9.0f}"
            )
        if args.register:
            rr = "-" if s.reg_rate is None else f"{s.reg_rate:.2f}"
            rm = "-" if s.reg_ms is None else f"{s.reg_ms:.0f}"
            line += f" {rr:>8s} {rm:>9s}"
        print(line)
    print(
        "(null: leaks of footage that is not indexed; 'hits' counts those left unmatched;"
        f" score and z there are the median score and the HIGHEST z of the best chance"
        f" alignment with the thresholds off: reporting needs score >= {MIN_SCORE}"
        f" and z >= {MIN_Z})"
    )
    print()
    print(
        f"fingerprint: {speed['fingerprint_s']:.2f} s for {speed['clip_s']:.0f} s of 640x360 30 fps"
        f" = {speed['s_per_hour']:.0f} s per hour of video"
        f" ({3600 / speed['s_per_hour']:.0f}x real time),"
        f" {speed['bytes_per_hour'] / 1e6:.2f} MB/hour stored"
    )
    print(
        f"locate a 10 s leak in {hour.duration_s / 3600:.2f} h of sources: {hour_ms:.0f} ms,"
        f" right offset found: {hour_hit}"
    )
    print(f"machine: {info['nproc']} cpu, {info['cpu']}, load {info['load_1min']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
