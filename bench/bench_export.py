"""Cost of the forensic watermark in an export: marked render vs a plain transcode.

For each size (default 640x360 and 1280x720) a synthetic bodycam clip of ``--seconds``
(default 60 s, 30 fps, H.264 + AAC, a keyframe a second) plays the evidence. Three
ways of turning it into an export run alternately, ``--reps`` times each (the order
rotates every round, so that load from other jobs on a shared machine falls on all
three alike):

* ``plain``: :func:`custodes.media.render.render` without marker and without visible
  mark -- decode, encode (H.264 CRF 23 veryfast yuv420p, AAC 128 kb/s);
* ``ffmpeg``: the same transcode by the ``ffmpeg`` command line of the
  ``imageio-ffmpeg`` wheel when it is installed (``-c:v libx264 -crf 23 -preset
  veryfast -pix_fmt yuv420p -c:a aac -b:a 128k``), the floor of what PyAV can do;
* ``marked``: ``render()`` with a :class:`custodes.media.fastmark.FastEmbedder` (the
  invisible mark, default parameters, compiled), no visible mark -- what an export costs;
* ``marked_numpy``: the same with the core's reference
  :class:`custodes.core.watermark.Embedder` (numpy only; the same output byte for byte),
  what an export cost before the compiled path (``--no-numpy`` leaves it out).

Each row gives frames per second (median over the repetitions, and the range), the
CPU seconds the run took (this process and its threads, or the ffmpeg child), how busy
it kept the cores (CPU seconds / wall seconds / cores), and ``ratio``: marked fps /
ffmpeg fps (issue 3's target is >= 0.85; also per round, each round's modes having run
back to back under about the same load, and the median of those), marked / plain,
plain / ffmpeg, and
``marked/ffmpeg_cpu_ceiling``: the best marked / ffmpeg could be if the marked export
kept every core busy (the CLI's CPU seconds over the marked export's, divided by how
busy the CLI kept the cores) -- what the mark's CPU cost alone allows.

    .venv/bin/python bench/bench_export.py [--seconds 60] [--reps 3] [--json]
    .venv/bin/python bench/bench_export.py --sizes 640x360 1280x720 --workdir /tmp/clips
    .venv/bin/python bench/bench_export.py --breakdown --out bench/results/export.json

``--breakdown`` adds, per size, where the marked export's extra CPU goes: the mark
alone (``mark_luma``, compiled and numpy) and libx264 encoding the marked vs the
unmarked frames.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from custodes.core import watermark as wm  # noqa: E402
from custodes.media.fastmark import FastEmbedder  # noqa: E402
from custodes.media.render import EncodeSettings, add_video_stream, render  # noqa: E402
from custodes.media.synth import write_bodycam_clip  # noqa: E402
from custodes.media.threads import single_threaded_blas  # noqa: E402

KEY = wm.derive_key(b"bench-export-vault-secret-0123456789", "export-bench")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "av": av.__version__,
        "ffmpeg_libs": av.library_versions.get("libavcodec"),
        "opencv": cv2.__version__,
        "cv2_threads": cv2.getNumThreads(),
        "platform": platform.platform(),
    }


def ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return None
    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe


def run_ffmpeg(exe: str, src: Path, dest: Path) -> None:
    subprocess.run(
        [
            exe,
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(src),
            "-c:v",
            "libx264",
            "-crf",
            "23",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-movflags",
            "+faststart",
            str(dest),
        ],
        check=True,
    )


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = s.frames
        if n:
            return int(n)
        return sum(1 for _ in c.demux(s) if _.size)


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children)."""
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) + (
        c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
    )
    return wall, cpu


def breakdown(width: int, height: int, seconds: float, work: Path) -> dict[str, Any]:
    """Where the marked export's extra CPU goes, on decoded frames held in memory (the
    first 300): ``mark_luma`` alone (OpenBLAS on one thread, as in ``render``), and libx264
    (the export's settings) encoding the unmarked and the marked frames, three
    alternating rounds, medians. The encoder's difference is what the mark costs x264
    itself: a changed picture holds more detail to code, and no implementation of the
    mark can remove that."""
    src = work / f"evidence_{width}x{height}_{seconds:g}s.mp4"
    if not src.exists():
        write_bodycam_clip(src, seconds=seconds, width=width, height=height, seed=3)
    decoded: list[tuple[np.ndarray, float]] = []
    with av.open(str(src)) as c:
        for f in c.decode(video=0):
            decoded.append((f.to_ndarray(format="yuv420p"), float(f.time or 0.0)))
            if len(decoded) >= 300:
                break
    n = len(decoded)
    # The marked copies are allocated (and their pages touched) before the clock starts:
    # fresh memory is slow to fault in on a VM, and render() reuses its buffers.
    marked = [p.copy() for p, _ in decoded]
    mark_ms: dict[str, tuple[float, float]] = {}
    for name, emb in (
        ("numpy", wm.Embedder(KEY, width, height, wm.MarkParams())),
        ("compiled", FastEmbedder(KEY, width, height, wm.MarkParams())),
    ):
        with single_threaded_blas():
            for p, t in decoded[:30]:  # warm the pattern cache (and compile)
                emb.mark_luma(p[:height], t)
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for (p, t), q in zip(decoded, marked, strict=True):
                q[:height] = emb.mark_luma(p[:height], t)
            mark_ms[name] = (
                1e3 * (time.process_time() - cpu0) / n,
                1e3 * (time.perf_counter() - wall0) / n,
            )
    plain = [p for p, _ in decoded]
    rate = Fraction(30)

    def encode(planes: list[np.ndarray], dest: Path) -> None:
        with av.open(str(dest), "w", format="mp4") as out:
            vs = add_video_stream(out, EncodeSettings(), rate, width, height)
            for i, pl in enumerate(planes):
                vf = av.VideoFrame.from_ndarray(pl, format="yuv420p")
                vf.pts, vf.time_base = i, Fraction(1) / rate
                out.mux(vs.encode(vf))
            out.mux(vs.encode(None))

    cpu: dict[str, list[float]] = {"plain": [], "marked": []}
    size: dict[str, int] = {}
    for rep in range(3):
        order = [("plain", plain), ("marked", marked)]
        for name, planes in order if rep % 2 == 0 else order[::-1]:
            dest = work / f"encode-{name}.mp4"
            _, c = timed(lambda planes=planes, dest=dest: encode(planes, dest))
            cpu[name].append(c)
            size[name] = dest.stat().st_size
            dest.unlink()
    enc = {k: 1e3 * statistics.median(v) / n for k, v in cpu.items()}
    return {
        "frames": n,
        "mark_luma_cpu_ms_per_frame": round(mark_ms["compiled"][0], 3),
        "mark_luma_wall_ms_per_frame": round(mark_ms["compiled"][1], 3),
        "mark_luma_numpy_cpu_ms_per_frame": round(mark_ms["numpy"][0], 3),
        "mark_luma_numpy_wall_ms_per_frame": round(mark_ms["numpy"][1], 3),
        "x264_cpu_ms_per_frame_plain": round(enc["plain"], 3),
        "x264_cpu_ms_per_frame_marked": round(enc["marked"], 3),
        "x264_extra_cpu_ms_per_frame": round(enc["marked"] - enc["plain"], 3),
        "bytes_plain": size["plain"],
        "bytes_marked": size["marked"],
    }


def bench_size(
    width: int,
    height: int,
    seconds: float,
    reps: int,
    work: Path,
    exe: str | None,
    numpy_mode: bool = True,
) -> dict[str, Any]:
    src = work / f"evidence_{width}x{height}_{seconds:g}s.mp4"
    if not src.exists():
        write_bodycam_clip(src, seconds=seconds, width=width, height=height, seed=3)
    frames = frame_count(src)
    params = wm.MarkParams()
    out = work / "out.mp4"

    def plain() -> None:
        render(src, out)

    def marked() -> None:
        render(src, out, marker=FastEmbedder(KEY, width, height, params))

    def marked_numpy() -> None:
        render(src, out, marker=wm.Embedder(KEY, width, height, params))

    FastEmbedder(KEY, width, height, params).mark_luma(np.zeros((height, width), np.uint8), 0.0)
    modes: dict[str, Callable[[], None]] = {"plain": plain, "marked": marked}
    if numpy_mode:
        modes["marked_numpy"] = marked_numpy
    if exe is not None:
        modes["ffmpeg"] = lambda: run_ffmpeg(exe, src, out)
    names = list(modes)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            wall, cpu = timed(modes[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
            out.unlink(missing_ok=True)
    rows: dict[str, Any] = {}
    for name in names:
        fps = [frames / w for w in walls[name]]
        rows[name] = {
            "fps": round(statistics.median(fps), 1),
            "fps_min": round(min(fps), 1),
            "fps_max": round(max(fps), 1),
            "cpu_s": round(statistics.median(cpus[name]), 2),
            "cpu_ms_per_frame": round(1e3 * statistics.median(cpus[name]) / frames, 2),
        }
    ratio = {"marked/plain": round(rows["marked"]["fps"] / rows["plain"]["fps"], 3)}
    if "marked_numpy" in rows:
        ratio["marked_numpy/plain"] = round(rows["marked_numpy"]["fps"] / rows["plain"]["fps"], 3)
    # Paired per round too: each round ran all modes under about the same load.
    ratio["marked/plain_rounds"] = [
        round(walls["plain"][i] / walls["marked"][i], 3) for i in range(reps)
    ]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for name in names:
        # How busy the run kept the machine: CPU seconds / (wall seconds x cores).
        pairs = zip(cpus[name], walls[name], strict=True)
        busy = statistics.median(c / (w * (cores or 1)) for c, w in pairs)
        rows[name]["cores_busy"] = round(busy, 3)
    if "ffmpeg" in rows:
        ratio["marked/ffmpeg"] = round(rows["marked"]["fps"] / rows["ffmpeg"]["fps"], 3)
        ratio["marked/ffmpeg_rounds"] = [
            round(walls["ffmpeg"][i] / walls["marked"][i], 3) for i in range(reps)
        ]
        ratio["marked/ffmpeg_rounds_median"] = round(
            statistics.median(ratio["marked/ffmpeg_rounds"]), 3
        )
        ratio["plain/ffmpeg"] = round(rows["plain"]["fps"] / rows["ffmpeg"]["fps"], 3)
        if "marked_numpy" in rows:
            ratio["marked_numpy/ffmpeg"] = round(
                rows["marked_numpy"]["fps"] / rows["ffmpeg"]["fps"], 3
            )
        # The best marked/ffmpeg could be if the marked export kept every core as busy as
        # the CLI does: the CLI's CPU per frame over the marked export's.
        ratio["marked/ffmpeg_cpu_ceiling"] = round(
            rows["ffmpeg"]["cpu_s"]
            / rows["marked"]["cpu_s"]
            / min(1.0, rows["ffmpeg"]["cores_busy"]),
            3,
        )
    return {
        "size": f"{width}x{height}",
        "seconds": seconds,
        "frames": frames,
        "modes": rows,
        "ratio": ratio,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", nargs="+", default=["640x360", "1280x720"])
    ap.add_argument("--workdir", type=Path, help="keep the generated clips here")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, help="also write the JSON result to this file")
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="also split the mark's cost: mark_luma alone, x264 on marked vs unmarked frames",
    )
    ap.add_argument(
        "--no-numpy",
        action="store_true",
        help="leave out the marked_numpy mode (the core's reference Embedder)",
    )
    args = ap.parse_args()
    exe = ffmpeg_exe()
    result: dict[str, Any] = {"machine": machine(), "ffmpeg": exe, "results": []}
    tmp = None
    if args.workdir is None:
        tmp = tempfile.mkdtemp(prefix="bench_export_")
        work = Path(tmp)
    else:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.json:
            m = result["machine"]
            print(f"machine: {m['cpu']}, {m['cores']} cores, load {m['load_avg']}, {m['platform']}")
            print(f"python {m['python']} numpy {m['numpy']} av {m['av']} opencv {m['opencv']}")
            print(f"ffmpeg CLI: {exe or 'not installed (pip install imageio-ffmpeg)'}")
        for size in args.sizes:
            w, h = (int(v) for v in size.lower().split("x"))
            row = bench_size(w, h, args.seconds, args.reps, work, exe, not args.no_numpy)
            if args.breakdown:
                row["breakdown"] = breakdown(w, h, args.seconds, work)
            result["results"].append(row)
            if not args.json:
                print(f"\n{row['size']}  {row['seconds']:g} s  {row['frames']} frames")
                for name, r in row["modes"].items():
                    print(
                        f"  {name:12s} {r['fps']:7.1f} fps  (min {r['fps_min']:.1f}, max"
                        f" {r['fps_max']:.1f})  cpu {r['cpu_s']:.1f} s"
                        f" = {r['cpu_ms_per_frame']:.2f} ms/frame"
                    )
                for k, v in row["ratio"].items():
                    print(f"  {k:20s} {v}")
                for k, v in row.get("breakdown", {}).items():
                    print(f"  {k:30s} {v}")
        result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
        result["command"] = " ".join([".venv/bin/python", "bench/bench_export.py", *sys.argv[1:]])
        if args.out is not None:
            args.out.write_text(json.dumps(result, indent=1) + "\n")
        if args.json:
            print(json.dumps(result, indent=2))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
