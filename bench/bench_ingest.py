"""Ingest throughput against plain hashing of the same file, side by side in one run.

    .venv/bin/python bench/bench_ingest.py [--size-mb 1024] [--reps 3] [--json]

Makes a valid video of about --size-mb (Matroska holding raw 1280x720 frames of
noise, so that the bytes are incompressible and a probe can decode it), then alternates
`sha256sum FILE` and a full `custodes ingest` of that file into a fresh embedded vault
(stream + hash + fsync + probe + atomic rename + database commit). Both read from a
warm page cache. Goal (issue 2): ingest at no less than 0.8x the speed of sha256sum.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from custodes import bootstrap
from custodes.config import Settings
from custodes.services import cases, evidence


def make_video(path: Path, size_mb: int) -> None:
    w, h = 1280, 720
    frame_bytes = w * h * 3 // 2
    n = max(2, size_mb * (1 << 20) // frame_bytes)
    rng = np.random.default_rng(0)
    bank = [rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8) for _ in range(8)]
    with av.open(str(path), "w", format="matroska") as out:
        st = out.add_stream("rawvideo", rate=30)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(bank[i % len(bank)], format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, 30)
            out.mux(st.encode(frame))
        out.mux(st.encode(None))


def machine() -> dict[str, object]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "unknown",
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        src = Path(tmp) / "bodycam.mkv"
        make_video(src, args.size_mb)
        size = src.stat().st_size
        subprocess.run(["sha256sum", str(src)], check=True, capture_output=True)  # warm cache
        hash_s, ingest_s, openssl_s = [], [], []
        for rep in range(args.reps):
            t0 = time.perf_counter()
            digest = hashlib.sha256()
            with open(src, "rb") as fh:
                while chunk := fh.read(8 << 20):
                    digest.update(chunk)
            openssl_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(["sha256sum", str(src)], check=True, capture_output=True)
            hash_s.append(time.perf_counter() - t0)
            vault = bootstrap.init_vault(Settings(home=Path(tmp) / f"vault{rep}"))
            cases.add_case(vault, "admin", "C-1")
            t0 = time.perf_counter()
            evidence.ingest(vault, "admin", src, "C-1")
            ingest_s.append(time.perf_counter() - t0)
            vault.engine.dispose()
            for blob in (Path(tmp) / f"vault{rep}" / "blobs").rglob("*"):
                if blob.is_file():
                    blob.chmod(0o600)
                    blob.unlink()
    mb = size / 1e6
    best_hash, best_ingest = min(hash_s), min(ingest_s)
    out = {
        "machine": machine(),
        "file_mb": round(mb, 1),
        "sha256sum_s": [round(x, 3) for x in hash_s],
        "ingest_s": [round(x, 3) for x in ingest_s],
        "sha256sum_mb_s": round(mb / best_hash, 1),
        "ingest_mb_s": round(mb / best_ingest, 1),
        "hashlib_mb_s": round(mb / min(openssl_s), 1),
        "ratio_vs_hashlib": round(min(openssl_s) / best_ingest, 3),
        "ratio": round(best_hash / best_ingest, 3),
        "goal_ratio": 0.8,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"machine    {out['machine']}")
        print(f"file       {out['file_mb']} MB (raw 1280x720 video in Matroska)")
        print(f"sha256sum  {out['sha256sum_mb_s']:>8} MB/s  runs {out['sha256sum_s']}")
        print(f"ingest     {out['ingest_mb_s']:>8} MB/s  runs {out['ingest_s']}")
        print(f"hashlib    {out['hashlib_mb_s']:>8} MB/s  (OpenSSL SHA-256, read only)")
        print(
            f"ratio      {out['ratio']:>8}x vs sha256sum (goal >= 0.8x); "
            f"{out['ratio_vs_hashlib']}x vs hashlib"
        )
    sys.exit(0)


if __name__ == "__main__":
    main()
