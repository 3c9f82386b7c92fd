"""Ingest speed of LocalBlobStore against ``sha256sum`` on the same file.

Creates a random file, then times, alternating in one run, ``sha256sum FILE`` and
``LocalBlobStore.stage()`` + ``commit()`` of that file into a fresh store (fsync included),
plus, for reference, a plain copy with fsync and no hashing (``dd conv=fsync``: the disk's
share), Python's own read+hash loop, and ``LocalBlobStore.rehash()`` of a stored copy.

The page cache cannot be dropped without privileges: every figure is with the source file
warm in cache (each measure runs once untimed first), so ``sha256sum`` measures hashing
and the store measures hashing + writing + fsync to disk.

Each timed run follows ``--pause`` seconds of rest. On a VM whose host takes back free guest
memory, a run that writes right after a file was deleted reuses still-mapped pages and looks
up to 4x faster than the same run a few seconds later; the pause puts every measure in the
same (slower) state.

    .venv/bin/python bench/bench_blobs.py --size-mb 1024 [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from custodes.storage.blobs.local import LocalBlobStore  # noqa: E402

MB = 1024 * 1024


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    except OSError:
        pass
    sha_tool = subprocess.run(["sha256sum", "--version"], capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "sha_ni": " sha_ni" in flags,
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "sha256sum": sha_tool.stdout.splitlines()[0] if sha_tool.stdout else "?",
        "platform": platform.platform(),
    }


def make_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; return their SHA-256."""
    h = hashlib.sha256()
    block = 16 * MB
    with path.open("wb") as f:
        left = size
        while left:
            data = os.urandom(min(block, left))
            h.update(data)
            f.write(data)
            left -= len(data)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def run_sha256sum(path: Path, expected: str) -> None:
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == expected, out.stdout


def run_hashlib(path: Path, expected: str) -> None:
    h = hashlib.sha256()
    buf = bytearray(4 * MB)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    assert h.hexdigest() == expected


def make_dd_run(workdir: Path) -> Callable[[Path, str], None]:
    """The disk's share: a plain copy with fsync and no hashing (``dd conv=fsync``)."""

    def run_dd(path: Path, expected: str) -> None:
        dest = workdir / "dd-copy.bin"
        subprocess.run(
            ["dd", f"if={path}", f"of={dest}", "bs=4M", "conv=fsync", "status=none"],
            check=True,
        )
        dest.unlink()

    return run_dd


def make_store_run(workdir: Path) -> Callable[[Path, str], None]:
    counter = iter(range(1_000_000))

    def run_store(path: Path, expected: str) -> None:
        root = workdir / f"store-{next(counter)}"
        store = LocalBlobStore(root)
        with path.open("rb") as src:
            ref = store.commit(store.stage(src))
        assert ref.sha256 == expected and ref.created

    return run_store


def make_rehash_run(workdir: Path, path: Path) -> Callable[[Path, str], None]:
    store = LocalBlobStore(workdir / "kept")
    with path.open("rb") as src:
        store.commit(store.stage(src))

    def run_rehash(path: Path, expected: str) -> None:
        assert store.rehash(expected) == expected

    return run_rehash


def timed(fn: Callable[[Path, str], None], path: Path, expected: str) -> float:
    t0 = time.perf_counter()
    fn(path, expected)
    return time.perf_counter() - t0


def clean_stores(workdir: Path) -> None:
    for p in workdir.glob("store-*"):
        for sub in p.rglob("*"):
            if sub.is_file():
                sub.chmod(0o600)
        shutil.rmtree(p)
    os.sync()  # settle writeback before the next timed run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: bench/out/tmp*)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--pause",
        type=float,
        default=5.0,
        help="seconds of rest before each timed run, so that every measure starts alike",
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--skip-extras", action="store_true", help="time only sha256sum and the store")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)

    if args.dir is None:
        out = REPO / "bench" / "out"
        out.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="blobs-", dir=out))
    else:
        workdir = args.dir
        workdir.mkdir(parents=True, exist_ok=True)
    size = args.size_mb * MB
    src = workdir / "source.bin"

    def log(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr)

    try:
        log(f"writing {args.size_mb} MB of random bytes to {src} ...")
        expected = make_file(src, size)
        measures: dict[str, Callable[[Path, str], None]] = {
            "sha256sum": run_sha256sum,
            "store": make_store_run(workdir),
        }
        if not args.skip_extras:
            measures["dd+fsync"] = make_dd_run(workdir)
            measures["hashlib"] = run_hashlib
            measures["rehash"] = make_rehash_run(workdir, src)
        times: dict[str, list[float]] = {k: [] for k in measures}
        for fn in measures.values():  # warm the cache and the code paths
            fn(src, expected)
        clean_stores(workdir)
        for i in range(args.repeat):
            for name, fn in measures.items():
                time.sleep(args.pause)
                times[name].append(timed(fn, src, expected))
                clean_stores(workdir)
            log(
                f"rep {i + 1}: "
                + "  ".join(f"{n} {args.size_mb / t[-1]:7.0f} MB/s" for n, t in times.items())
            )
        mbps = {n: [args.size_mb / t for t in ts] for n, ts in times.items()}
        median = {n: statistics.median(v) for n, v in mbps.items()}
        result = {
            "machine": machine(),
            "size_mb": args.size_mb,
            "repeat": args.repeat,
            "cache": "warm (page cache not dropped; each measure run once untimed first)",
            "pause_s": args.pause,
            "mb_per_s": {n: [round(x, 1) for x in v] for n, v in mbps.items()},
            "median_mb_per_s": {n: round(v, 1) for n, v in median.items()},
            "ratio_store_vs_sha256sum": round(median["store"] / median["sha256sum"], 3),
            "ratio_store_vs_dd_fsync": (
                round(median["store"] / median["dd+fsync"], 3) if "dd+fsync" in median else None
            ),
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            m = result["machine"]
            print(f"machine: nproc={m['nproc']} cpu={m['cpu']!r} sha_ni={m['sha_ni']}")
            print(f"python {m['python']}, {m['openssl']}, {m['sha256sum']}")
            print(f"file: {args.size_mb} MB, {args.repeat} reps, warm cache")
            for n, v in median.items():
                spread = f"{min(mbps[n]):.0f}-{max(mbps[n]):.0f}"
                print(f"  {n:9s} median {v:7.0f} MB/s  (range {spread})")
            print(f"ratio store / sha256sum: {result['ratio_store_vs_sha256sum']:.2f}x")
            if result["ratio_store_vs_dd_fsync"] is not None:
                print(f"ratio store / dd+fsync:  {result['ratio_store_vs_dd_fsync']:.2f}x")
    finally:
        if not args.keep:
            clean_stores(workdir)
            for p in (workdir / "kept").rglob("*"):
                if p.is_file():
                    p.chmod(0o600)
            shutil.rmtree(workdir / "kept", ignore_errors=True)
            src.unlink(missing_ok=True)
            if args.dir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
